"""KOSMOS smoke tests: the API is up and serves this environment's current data (read-only).

Run after a recovery (DR plan, Recovery Validation): ``pytest tests/integration/smoke_tests.py``.
"""

import os
from datetime import datetime, timezone

import pytest


def _instant(text):
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def test_health_endpoint_answers(api):
    """The health endpoint is served (its verdict is VAL-API-HEALTH's to judge, not a smoke test's)."""
    path = os.environ.get("KOSMOS_DR_HEALTH_PATH") or "/health"
    status, body, text = api.get(path)
    assert status in (200, 503), f"GET {path}: HTTP {status}: {text[:200]}"
    assert isinstance(body, dict) and body, f"GET {path}: not a health answer: {text[:200]!r}"


def test_agents_are_listed(api):
    items = api.items("/v1/agents")
    assert items, "GET /v1/agents: no agents"
    listed = {str(item.get("id")) for item in items if isinstance(item, dict)}
    expected = [a for a in os.environ.get("KOSMOS_DR_AGENTS", "").split(",") if a]
    absent = [a for a in expected if a not in listed]
    assert not absent, (f"GET /v1/agents does not list {', '.join(absent)} (lists {', '.join(sorted(listed))}): "
                        f"the API reads another environment's data")


@pytest.fixture(scope="module")
def conversations(api):
    items = api.items("/v1/conversations?limit=5")
    assert items, "GET /v1/conversations?limit=5: no conversations"
    for item in items:
        missing = [f for f in ("id", "agent_id", "created_at") if item.get(f) in (None, "")]
        assert not missing, f"GET /v1/conversations: a conversation lacks {', '.join(missing)}: {item}"
        assert _instant(item["created_at"]), f"GET /v1/conversations: created_at {item['created_at']!r} is no time"
    return items


def test_recent_conversations_are_served(conversations):
    not_before = os.environ.get("KOSMOS_DR_DATA_NOT_BEFORE")
    if not not_before:
        pytest.skip("KOSMOS_DR_DATA_NOT_BEFORE not set: how recent the data must be is unknown")
    newest = max(_instant(item["created_at"]) for item in conversations)
    assert newest >= _instant(not_before), (
        f"newest conversation created {newest.isoformat()}, before {not_before} (incident start minus the RPO): "
        f"the API serves a stale copy of the data")


def test_messages_belong_to_their_conversation(api, conversations):
    conversation = conversations[0]["id"]
    path = f"/v1/conversations/{conversation}/messages"
    items = api.items(path)
    assert items, f"GET {path}: no messages"
    for item in items:
        missing = [f for f in ("id", "role", "body") if item.get(f) in (None, "")]
        assert not missing, f"GET {path}: a message lacks {', '.join(missing)}"
    foreign = sorted({str(m["conversation_id"]) for m in items
                      if "conversation_id" in m and str(m["conversation_id"]) != str(conversation)})
    assert not foreign, f"GET {path} answered messages of conversation(s) {', '.join(foreign)}, not {conversation}"
