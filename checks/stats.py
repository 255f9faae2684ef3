"""The statistics of the claim checks: every helper is :mod:`amemory.stats` (installed with the package, so
researchers can use the same fits and tests in their own analyses); the checks import it as ``stats``."""

from amemory.stats import *  # noqa: F403
from amemory.stats import __all__  # noqa: F401
