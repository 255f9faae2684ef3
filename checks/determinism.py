"""Hypothesis draws that depend only on the test and its seed, not on the text of the repository.

Hypothesis (6.13x and later) mixes literal constants that it finds in the *local* source files (every module of
this repository that has been imported) into its draws. With ``derandomize=True`` a test's example sequence then
still changes whenever any source file gains or loses a constant, and with the set of modules imported before it
(a ``-k`` run differs from a full one). A claim check that records a Hypothesis maximum (GD2's Hessian identity,
GM1/GM3's gradient identities) would record different numbers for the same code of the check. :func:`no_local_constants`
makes Hypothesis use its global constants only; it touches a private function of Hypothesis and does nothing
where that function does not exist (other versions).
"""

from __future__ import annotations


def no_local_constants() -> bool:
    """Stop Hypothesis from drawing constants of the local source files.

    Returns
    -------
    bool
        Whether the switch was applied (False on a Hypothesis version without local constants).
    """
    try:
        from hypothesis.internal.conjecture import providers as hp
    except ImportError:
        return False
    needed = ("_get_local_constants", "Constants", "SortedSet", "float_to_int")
    if not all(hasattr(hp, n) for n in needed):
        return False
    empty = hp.Constants(
        integers=hp.SortedSet(), floats=hp.SortedSet(key=hp.float_to_int), bytes=hp.SortedSet(), strings=hp.SortedSet()
    )
    hp._get_local_constants = lambda: empty
    return True
