"""The sandbox: a local DR environment built from real parts (see docs/architecture.md).

Importing this package is cheap; components import their heavy dependencies themselves.
"""

AGENTS = ("zeus-orchestrator", "athena-analyst", "hermes-courier")


def layout_target_name(layout: str) -> str:
    """The name ``layout.target_toml`` gives the target describing sandbox layout ``layout``."""
    return "sandbox" if layout == "default" else f"sandbox-{layout}"
