"""Named faults of Route53 and the sandbox DNS (REC-DNS, REC-FAILOVER-TRIGGER)."""

from __future__ import annotations

from ..component import Fault


def dns_faults(component) -> list[Fault]:
    """Faults of Route53 and the sandbox DNS (REC-DNS, REC-FAILOVER-TRIGGER); registered by the component's ``faults()``."""
    return []
