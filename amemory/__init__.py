"""Shared infrastructure of the amemory suite, imported by :mod:`theory`, :mod:`impl` and the checks.

- :mod:`amemory.validate`: argument validation (one module, one wording; numpy only at import);
- :mod:`amemory.sweep`: the resumable sweep engine (hashing, SQLite store, executors, command line).

Nothing here imports :mod:`theory`, :mod:`impl` or the checks: dependencies point into this package.
"""
