"""The sandbox: a local DR environment built from real parts (see docs/architecture.md).

Importing this package is cheap; components import their heavy dependencies themselves.
"""

AGENTS = ("zeus-orchestrator", "athena-analyst", "hermes-courier")
SANDBOX_LAYOUTS = ("default", "alternate")  # sandbox/layout.py describes each

# the sandbox's application schema (pytest_kosmos_dr/data/kosmos_schema.sql), as a target states it
SANDBOX_SCHEMA = ("agents.id", "agents.display_name", "agents.created_at", "conversations.id",
                  "conversations.agent_id", "conversations.title", "conversations.created_at",
                  "conversations.updated_at", "messages.id", "messages.conversation_id", "messages.role",
                  "messages.body", "messages.created_at")

# the KOSMOS checkout shipped with the sandbox (pytest_kosmos_dr/sandbox/kosmos_checkout), run with this Python.
# Its tests use no pytest plugin; a KOSMOS environment would not hold this project's (Allure, xdist, anyio,
# in development Hypothesis), so its run does not load them: ~0.15 s of CPU less per gate run, measured
SANDBOX_SMOKE = {"checkout": "@sandbox",
                 "smoke_command": "{python} -m pytest -q -p no:cacheprovider tests/integration/smoke_tests.py",
                 "routing_command": "{python} scripts/test_agent_routing.py --agent {agent}",
                 "env": {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}}


def layout_target_name(layout: str) -> str:
    """The name ``layout.target_toml`` gives the target describing sandbox layout ``layout``."""
    return "sandbox" if layout == "default" else f"sandbox-{layout}"
