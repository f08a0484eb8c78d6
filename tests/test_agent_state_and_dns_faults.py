"""Wrong worlds of the agent-state backups and of DNS failover (issue 12): each fault twin leaves the
objects the checks fetch looking healthy (fresh times, Enabled versioning, a 7-day rule, readable archives,
configured health checks and failover records); the checks see through it and fail exactly the criteria
it breaks, saying what is wrong. docs/wrong-worlds/agent-state-and-dns.md lists them."""

import pytest

from conftest import run_suite

SUITES = ("test_agent_state_backups.py", "test_failover.py")
CHECKS = {
    "BAK-AGENT-REALTIME": "test_every_agent_state_backup_is_younger_than_the_rpo",
    "BAK-AGENT-VERSIONING": "test_agent_state_bucket_is_versioned",
    "BAK-AGENT-RETENTION": "test_agent_state_is_kept_seven_days",
    "BAK-AGENT-ARCHIVE": "test_every_agent_newest_archive_is_a_usable_state_archive",
    "REC-FAILOVER-TRIGGER": "test_health_checks_fail_over_within_five_minutes_from_several_regions",
    "REC-DNS": "test_api_name_answers_and_resolves_to_the_secondary_region",
    "SCN-REGIONAL-OUTAGE": "test_secondary_region_serves_after_a_regional_outage",
}
PRIMARY_HC = "health check * (api.us-east-1.kosmos.internal)"
OUTAGE = "the secondary region does not serve: REC-DNS failed: "
UNLISTED = ("apollo-scout runs in the DR cluster (pod apollo-scout-0) but has no state archive under "
            "s3://kosmos-backups/agent-state/apollo-scout/apollo-scout-state-{timestamp}.tar.gz (it is not in the "
            "targets file; a recovery would lose its state)")


def assert_failing(result, expected: dict[str, str]) -> None:
    """Exactly the criteria in ``expected`` failed (each with its message); the others passed."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == len(expected), result.stdout.str()
    assert outcomes.get("passed") == len(CHECKS) - len(expected), result.stdout.str()
    assert not {"broken", "error", "errors"} & set(outcomes), result.stdout.str()
    for criterion, message in expected.items():
        result.stdout.fnmatch_lines([f"DR check failed: {criterion}: {message}"])
        result.stdout.fnmatch_lines([f"FAILED *::{CHECKS[criterion]}*"])


def test_agent_state_and_dns_checks_pass_on_the_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, *SUITES, "-v")
    assert result.parseoutcomes() == {"passed": len(CHECKS)}, result.stdout.str()


@pytest.mark.parametrize(
    ("fault_name", "expected"),
    [
        # BAK-AGENT-REALTIME
        ("agent-backups-deleted-40m", {"BAK-AGENT-REALTIME": "zeus-orchestrator: newest state backup 4? min before "
                                       "the incident start (8 newer deleted (a delete marker is the current version)), "
                                       "limit 15 min (RPO)"}),
        ("agent-backup-placeholders-40m", {
            "BAK-AGENT-REALTIME": "zeus-orchestrator: newest state backup 4? min before the incident start (8 newer 0 "
                                  "bytes, too small to be a .tar.gz), limit 15 min (RPO)",
            "BAK-AGENT-ARCHIVE": "unusable agent-state archives: zeus-orchestrator: zeus-orchestrator-state-*.tar.gz: "
                                 "empty object (0 bytes)*"}),
        # BAK-AGENT-VERSIONING
        ("agent-versioning-suspended-window", {
            "BAK-AGENT-VERSIONING": "zeus-orchestrator: 1 of * archives written * .. * have VersionId null: versioning "
                                    "was off when they were written"}),
        ("agent-versioning-enabled-late", {
            "BAK-AGENT-VERSIONING": "zeus-orchestrator: * of * archives written * have VersionId null: versioning was "
                                    "off when they were written; athena-analyst: *; hermes-courier: *"}),
        # BAK-AGENT-RETENTION
        ("agent-lifecycle-deep-archive-1d", {
            "BAK-AGENT-RETENTION": "agent state kept less than 7 d: rule agent-state-retention moves current versions "
                                   "to DEEP_ARCHIVE after 1 d: not downloadable without a restore request that takes "
                                   "hours; rule agent-state-retention moves noncurrent versions to DEEP_ARCHIVE after "
                                   "1 d*(limit 7 d)"}),
        ("agent-history-hole-3d", {
            "BAK-AGENT-RETENTION": "agent state kept less than 7 d: zeus-orchestrator: no version between * and * "
                                   "(3 d * of its history missing, limit 24 h 00 min) (limit 7 d)"}),
        # BAK-AGENT-ARCHIVE
        ("agent-archive-of-another-agent", {
            "BAK-AGENT-ARCHIVE": "unusable agent-state archives: zeus-orchestrator: zeus-orchestrator-state-*.tar.gz: "
                                 "holds athena-analyst's state (athena-analyst-state/), not zeus-orchestrator's*"}),
        ("agent-archive-empty-state", {
            "BAK-AGENT-ARCHIVE": "unusable agent-state archives: zeus-orchestrator: zeus-orchestrator-state-*.tar.gz: "
                                 "holds no state: memory.json is {}, tasks.json is {}*"}),
        ("agent-archive-member-missing", {
            "BAK-AGENT-ARCHIVE": "unusable agent-state archives: zeus-orchestrator: zeus-orchestrator-state-*.tar.gz: "
                                 "tasks.json missing (the state folder is zeus-orchestrator-state/) (expected a "
                                 ".tar.gz of the agent's state with memory.json, tasks.json, matching its manifest)"}),
        # every BAK-AGENT criterion: "every agent" includes the ones running in the DR cluster
        ("unlisted-agent-without-backup", {
            criterion: f"{prefix}{UNLISTED}*" for criterion, prefix in (
                ("BAK-AGENT-REALTIME", ""), ("BAK-AGENT-VERSIONING", ""),
                ("BAK-AGENT-RETENTION", "agent state kept less than 7 d: "),
                ("BAK-AGENT-ARCHIVE", "unusable agent-state archives: "))}),
        # REC-FAILOVER-TRIGGER
        ("healthcheck-watches-secondary", {
            "REC-FAILOVER-TRIGGER": "health check * (api.us-west-2.kosmos.internal) on the PRIMARY record watches "
                                    "api.us-west-2.kosmos.internal., but the record points at "
                                    "api.us-east-1.kosmos.internal.*",
            "REC-DNS": "Route53 answers the PRIMARY record (api.us-east-1.kosmos.internal.: healthy (3/3 checkers "
                       "report healthy)), not the SECONDARY*",
            "SCN-REGIONAL-OUTAGE": OUTAGE + "Route53 answers the PRIMARY record*"}),
        ("healthcheck-calculated-always-healthy", {
            "REC-FAILOVER-TRIGGER": "health check * (CALCULATED) is healthy when 0 of its 1 child checks are: always "
                                    "healthy, Route53 never fails over*",
            "REC-DNS": "Route53 answers the PRIMARY record (api.us-east-1.kosmos.internal.: healthy (calculated: 0/1 "
                       "children healthy)), not the SECONDARY*",
            "SCN-REGIONAL-OUTAGE": OUTAGE + "Route53 answers the PRIMARY record*"}),
        # REC-DNS
        ("dns-secondary-points-at-primary", {
            "REC-DNS": "the SECONDARY record points at the primary's endpoint (api.us-east-1.kosmos.internal., the "
                       "PRIMARY's too): failing over changes nothing",
            "REC-FAILOVER-TRIGGER": "health check * (api.us-west-2.kosmos.internal) on the SECONDARY record watches "
                                    "api.us-west-2.kosmos.internal., but the record points at "
                                    "api.us-east-1.kosmos.internal.*",
            "SCN-REGIONAL-OUTAGE": OUTAGE + "the SECONDARY record points at the primary's endpoint*"}),
        ("dns-ttl-1d", {
            "REC-DNS": "the PRIMARY record (api.us-east-1.kosmos.internal.) has TTL 86400 s: resolvers keep its answer "
                       "up to 24 h 00 min after the switch, limit 5 min; the SECONDARY record * has TTL 86400 s*",
            "SCN-REGIONAL-OUTAGE": OUTAGE + "the PRIMARY record * has TTL 86400 s*"}),
        ("dns-private-zone-on-primary", {
            "REC-DNS": "private hosted zone kosmos.internal. (*) answers api.kosmos.internal. with "
                       "api.us-east-1.kosmos.internal. (a plain CNAME record), not the secondary endpoint "
                       "api.us-west-2.kosmos.internal.; api.kosmos.internal. resolves to api.us-east-1.kosmos.internal. "
                       "-> 127.0.0.2 through DNS server *, expected the secondary endpoint *",
            "SCN-REGIONAL-OUTAGE": OUTAGE + "private hosted zone kosmos.internal. *"}),
    ],
)
def test_wrong_world_fails_exactly_the_checks_it_breaks(sandbox, fault, pytester, fault_name, expected):
    fault(fault_name)
    result = run_suite(pytester, *SUITES, "-rf")
    assert_failing(result, expected)


def test_unlisted_running_agent_fails_the_rpo_named(sandbox, fault, pytester):
    fault("unlisted-agent-without-backup")
    result = run_suite(pytester, "test_objectives.py", "-k", "rpo", "-rf")
    result.stdout.fnmatch_lines(["DR check failed: OBJ-RPO: data loss over the RPO (15 min): agent state apollo-scout "
                                 "(runs in the DR cluster, not in the targets file): no recovered data lost"])


def test_every_agent_state_and_dns_criterion_has_three_fault_twins(sandbox):
    names = [f["name"] for f in sandbox.faults()]
    assert len(names) == len(set(names)), names
    for criterion in CHECKS:
        twins = [f["name"] for f in sandbox.faults() if criterion in f["criteria"]]
        assert len(twins) >= 3, (criterion, twins)
