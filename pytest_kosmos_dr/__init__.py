"""pytest-kosmos-dr: the KOSMOS disaster-recovery plan as executable acceptance tests.

The public API a suite (the shipped ones in suites/, or a user's own) imports: what a check returns
(``CheckResult``, ``Evidence``), waiting for convergence (``eventually``) and the two ways a check
ends other than passing: failed (``DRCheckFailed``) and could not verify (``DRUnverifiable``,
``RegionDown``). The fixtures (``dr_check``, ``dr_target``, ``dr_rds``, ...) come with the plugin;
the checks are in ``pytest_kosmos_dr.checks``. See docs/architecture.md, "Write your own criterion".
"""

from .errors import DRCheckFailed, DRUnverifiable, RegionDown
from .eventually import eventually
from .results import CheckResult, Evidence, trim

__version__ = "0.1.0"

__all__ = ["CheckResult", "DRCheckFailed", "DRUnverifiable", "Evidence", "RegionDown", "eventually", "trim",
           "__version__"]
