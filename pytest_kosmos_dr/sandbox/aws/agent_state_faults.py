"""Named faults of the agent-state bucket (BAK-AGENT-*)."""

from __future__ import annotations

from ..component import Fault


def agent_state_faults(component) -> list[Fault]:
    """Faults of the agent-state bucket (BAK-AGENT-*); registered by the component's ``faults()``."""
    return []
