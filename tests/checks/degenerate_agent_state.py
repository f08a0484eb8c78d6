"""Degenerate inputs of the agent-state restore check (REC-AGENT-STATE): nothing in the archive, nothing
read back, None."""

from pytest_kosmos_dr.checks.agent_state import state_restored

ARGS = ("zeus-orchestrator", "zeus-orchestrator-0", "/var/lib/agent/state/", "agent-state/zeus/a.tar.gz")

CASES = {
    "agent_state.state_restored": [
        ("nothing in the archive, nothing read back", lambda: state_restored(*ARGS, {}, {}, "kubectl cp")),
        ("archive files None", lambda: state_restored(*ARGS, None, {"memory.json": "ab"}, "kubectl cp")),
        ("nothing read back", lambda: state_restored(*ARGS, {"memory.json": "ab" * 32}, {}, "kubectl cp")),
        ("read back None", lambda: state_restored(*ARGS, {"memory.json": "ab" * 32}, None, "kubectl cp")),
        ("a digest None", lambda: state_restored(*ARGS, {"memory.json": "ab" * 32}, {"memory.json": None}, None)),
        ("no agent, no pod", lambda: state_restored("", "", "", "", {"m": "a"}, {"m": "a"}, "")),
    ],
}
