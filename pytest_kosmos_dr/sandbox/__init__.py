"""The sandbox: a local DR environment built from real parts (see docs/architecture.md).

Importing this package is cheap; components import their heavy dependencies themselves.
"""

AGENTS = ("zeus-orchestrator", "athena-analyst", "hermes-courier")
