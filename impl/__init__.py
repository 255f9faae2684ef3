"""Simulations of associative memories in torch (CPU by default, CUDA when asked)."""
