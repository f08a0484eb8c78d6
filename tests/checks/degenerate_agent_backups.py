"""Degenerate inputs of the agent-state backup checks (BAK-AGENT-*): no agents, an empty listing, entries
missing their fields, None."""

from datetime import datetime, timedelta, timezone

from pytest_kosmos_dr.checks import agent_backups as ab
from pytest_kosmos_dr.checks.backups import Reference

AT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
REF = Reference(AT, "the incident start")
RPO, KEEP = timedelta(minutes=15), timedelta(days=7)
AGENTS = ["zeus-orchestrator"]


def listing(versions=(), markers=()):
    return ab.AgentVersions("kosmos-backups", "agent-state/", list(versions), list(markers))


FIELDLESS = listing([{}, {"Key": "agent-state/zeus-orchestrator-state-20251213.tar.gz"}, {"LastModified": AT}, None])
# a running agent the targets file does not list, with nothing in the bucket
UNLISTED = {"hermes-x": "pod hermes-x-0"}


class S3:
    """A bucket that answers with nothing: no versioning status, empty bodies."""

    def __init__(self, versioning=None):
        self.versioning = versioning or {}

    def get_bucket_versioning(self, Bucket):
        return self.versioning

    def get_object(self, **_):
        import io

        return {"Body": io.BytesIO(b"")}


CASES = {
    "agent_backups.agent_realtime": [
        ("no agents", lambda: ab.agent_realtime(listing(), [], REF, rpo=RPO)),
        ("agents None", lambda: ab.agent_realtime(listing(), None, REF, rpo=RPO)),
        ("empty listing", lambda: ab.agent_realtime(listing(), AGENTS, REF, rpo=RPO)),
        ("versions without fields", lambda: ab.agent_realtime(FIELDLESS, AGENTS, REF, rpo=RPO)),
        ("listing None", lambda: ab.agent_realtime(None, AGENTS, REF, rpo=RPO)),
        ("only an unlisted running agent, empty listing",
         lambda: ab.agent_realtime(listing(), ["hermes-x"], REF, rpo=RPO, discovered=UNLISTED)),
    ],
    "agent_backups.agent_versioning": [
        ("no agents", lambda: ab.agent_versioning(S3({"Status": "Enabled"}), listing(), [], REF, retention=KEEP)),
        ("no versioning status", lambda: ab.agent_versioning(S3(), listing(), AGENTS, REF, retention=KEEP)),
        ("Enabled, empty listing", lambda: ab.agent_versioning(S3({"Status": "Enabled"}), listing(), AGENTS, REF, retention=KEEP)),
        ("Enabled, fieldless versions",
         lambda: ab.agent_versioning(S3({"Status": "Enabled"}), FIELDLESS, AGENTS, REF, retention=KEEP)),
        ("listing None", lambda: ab.agent_versioning(S3({"Status": "Enabled"}), None, AGENTS, REF, retention=KEEP)),
        ("unlisted running agent, empty listing",
         lambda: ab.agent_versioning(S3({"Status": "Enabled"}), listing(), ["hermes-x"], REF, retention=KEEP, discovered=UNLISTED)),
    ],
    "agent_backups.agent_retention": [
        ("no agents, no rules", lambda: ab.agent_retention([], listing(), [], REF, retention=KEEP)),
        ("no rules, empty listing", lambda: ab.agent_retention([], listing(), AGENTS, REF, retention=KEEP)),
        ("fieldless rules and versions", lambda: ab.agent_retention([{}], FIELDLESS, AGENTS, REF, retention=KEEP)),
        ("rules None", lambda: ab.agent_retention(None, listing(), AGENTS, REF, retention=KEEP)),
        ("listing None", lambda: ab.agent_retention([], None, AGENTS, REF, retention=KEEP)),
        ("unlisted running agent, empty listing",
         lambda: ab.agent_retention([], listing(), ["hermes-x"], REF, retention=KEEP, discovered=UNLISTED)),
    ],
    "agent_backups.agent_archive": [
        ("no agents", lambda: ab.agent_archive(S3(), listing(), [])),
        ("empty listing", lambda: ab.agent_archive(S3(), listing(), AGENTS)),
        ("fieldless versions", lambda: ab.agent_archive(S3(), FIELDLESS, AGENTS)),
        ("empty object", lambda: ab.agent_archive(S3(), listing([{
            "Key": "agent-state/zeus-orchestrator/a.tar.gz", "VersionId": "v", "LastModified": AT, "IsLatest": True,
            "Size": 0}]), AGENTS)),
        ("empty object under the flat key", lambda: ab.agent_archive(S3(), listing([{
            "Key": "agent-state/zeus-orchestrator-state-20251213.tar.gz", "VersionId": "v", "LastModified": AT,
            "IsLatest": True, "Size": 0}]), AGENTS)),
        ("listing None", lambda: ab.agent_archive(S3(), None, AGENTS)),
        ("unlisted running agent, empty listing", lambda: ab.agent_archive(S3(), listing(), ["hermes-x"],
                                                                          discovered=UNLISTED)),
    ],
}
