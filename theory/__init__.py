"""Predicted quantities of the associative-memory theory: closed forms in numpy/scipy, no torch, no randomness."""
