"""``python -m amemory.sweep``: see :mod:`amemory.sweep.cli`."""

from amemory.sweep.cli import main

raise SystemExit(main())
