"""Which code made a result: the git commit of a checkout, and whether it has uncommitted changes.

One helper for every place that labels a result with its code (the report's ``commit``, the stability rows'
configuration), so that they agree on what "dirty" means.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_commit"]


def git_commit(root: str | Path, *, ignore: tuple[str, ...] = (), length: int | None = None) -> str:
    """The commit checked out under ``root``, with ``+dirty`` when tracked files differ from it.

    Parameters
    ----------
    root : path
        A directory inside the git work tree.
    ignore : tuple of str
        Paths (relative to ``root``) whose changes do not count as dirty, e.g. ``("reports",)`` for the outputs a
        run writes itself.
    length : int or None
        Keep the first ``length`` hex digits of the commit (in [7, 40]); None keeps all 40.

    Returns
    -------
    str
        ``<sha>`` or ``<sha>+dirty``.

    Raises
    ------
    ValueError
        ``length`` out of range.
    subprocess.CalledProcessError, OSError
        ``root`` is not in a git work tree, or git is missing.
    """
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or not 7 <= length <= 40):
        raise ValueError(f"length must be None or an integer in [7, 40], got {length!r}")
    root = Path(root)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    spec = ["--", "."] + [f":(exclude){p}" for p in ignore]
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", *spec], cwd=root).returncode != 0
    return sha.stdout.strip()[:length] + ("+dirty" if dirty else "")
