"""Named faults of the cluster objects the configuration repository renders (BAK-CONFIG-GITOPS, REC-CONFIG-APPLY)."""

from __future__ import annotations

from ..component import Fault


def config_faults(component) -> list[Fault]:
    """Faults of the cluster objects the configuration repository renders (BAK-CONFIG-GITOPS, REC-CONFIG-APPLY); registered by the component's ``faults()``."""
    return []
