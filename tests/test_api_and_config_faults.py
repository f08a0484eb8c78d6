"""Three wrong worlds per criterion (issue 12), against the sandbox: each fault twin leaves what the
check used to look at healthy-looking, and exactly its check fails, naming what is wrong. The
healthy sandbox passes the same suites (tests/test_validation_suite.py, tests/test_availability_and_kill_switch.py)."""

import pytest

from conftest import run_suite

VALIDATION = "test_recovery_validation.py"
AVAILABILITY = "test_objectives_availability.py"
CONFIGURATION = "test_configuration.py"
TESTS_IN = {VALIDATION: 5, AVAILABILITY: 1, CONFIGURATION: 3}  # each passes on the healthy sandbox

HEALTH = "test_api_health_reports_every_component_healthy"
MONITORING = "test_grafana_health_reports_database_ok"
SMOKE = "test_plan_smoke_tests_pass_against_the_dr_api"
ROUTING = "test_plan_agent_routing_script_passes_for_every_agent"
AVAILABLE = "test_availability_over_the_window_meets_the_objective"
GITOPS = "test_dr_cluster_runs_what_the_production_branch_renders"
APPLY = "test_production_overlay_applies_as_a_server_side_dry_run"
MIRROR = "test_bucket_copy_of_the_configuration_is_the_production_head"

CASES = [
    # VAL-API-HEALTH
    ("api-health-cached", VALIDATION, HEALTH,
     "*VAL-API-HEALTH: /health: served from a cache (Age: *); checked_at * is before the incident start *"),
    ("api-health-no-database", VALIDATION, HEALTH, "*VAL-API-HEALTH: /health: component(s) database not reported*"),
    ("api-health-primary-region", VALIDATION, HEALTH,
     "*VAL-API-HEALTH: /health: answered by region 'us-east-1', not the DR region 'us-west-2'*"),
    # VAL-SMOKE
    ("api-reads-stale-copy", VALIDATION, SMOKE,
     "*VAL-SMOKE: smoke tests * test_recent_conversations_are_served: AssertionError: newest conversation created *, "
     "before * (incident start minus the RPO): the API serves a stale copy of the data*"),
    ("api-reads-other-environment", VALIDATION, SMOKE,
     "*VAL-SMOKE: smoke tests * test_agents_are_listed: AssertionError: GET /v1/agents does not list zeus-orchestrator, "
     "athena-analyst, hermes-courier (lists staging-echo, staging-sentinel)*"),
    ("api-messages-cross-wired", VALIDATION, SMOKE,
     "*VAL-SMOKE: smoke tests * test_messages_belong_to_their_conversation: AssertionError: "
     "GET /v1/conversations/*/messages answered messages of conversation(s) 1, not *"),
    # VAL-AGENT-ROUTING
    ("agent-probe-from-primary", VALIDATION, ROUTING,
     "*VAL-AGENT-ROUTING: routing script * failed for zeus-orchestrator: zeus-orchestrator: exit 1; output ends: "
     "FAIL: request for zeus-orchestrator: region 'us-east-1', expected 'us-west-2'*"),
    ("agent-probe-wrong-namespace", VALIDATION, ROUTING,
     "*VAL-AGENT-ROUTING: *FAIL: request for zeus-orchestrator: namespace 'kosmos-staging', expected 'kosmos'*"),
    ("agent-probe-cached", VALIDATION, ROUTING, "*VAL-AGENT-ROUTING: *nonce '*' is not ours (*): a cached or replayed answer*"),
    # VAL-MONITORING
    ("monitoring-blind", VALIDATION, MONITORING,
     "*VAL-MONITORING: Grafana 11.3.0 is up (database ok) but no current sample of avg(probe_success{job=\"kosmos-api\"})*"),
    ("grafana-datasource-primary-region", VALIDATION, MONITORING,
     "*VAL-MONITORING: Grafana 11.3.0 is up (database ok) but data source prometheus: HTTP 400, status 'ERROR' "
     "(Post \"http://prometheus.us-east-1.kosmos.internal:9090/api/v1/query\"*"),
    ("grafana-fresh-install", VALIDATION, MONITORING,
     "*VAL-MONITORING: Grafana 11.3.0 is up (database ok) but Grafana has no data source with uid 'prometheus'*"),
    # OBJ-AVAILABILITY
    ("maintenance-declared-afterwards", AVAILABILITY, AVAILABLE,
     "*OBJ-AVAILABILITY: availability 99.5?? % over 30 d (2 h 00 min planned maintenance left out, 1 maintenance "
     "window(s) declared after they began counted) < objective 99.9 %; error budget exceeded by *"),
    ("availability-flapping", AVAILABILITY, AVAILABLE,
     "*OBJ-AVAILABILITY: availability 99.4?? % over 30 d (2 h 00 min planned maintenance left out) < objective 99.9 %*"),
    ("availability-half-probes-failing", AVAILABILITY, AVAILABLE,
     "*OBJ-AVAILABILITY: availability 99.69? % over 30 d (2 h 00 min planned maintenance left out) < objective 99.9 %*"),
    # BAK-CONFIG-GITOPS
    ("config-deleted-object-still-applied", CONFIGURATION, GITOPS,
     "*BAK-CONFIG-GITOPS: DR cluster drifted from production@*: CronJob/kosmos-conversation-reindex (ns kosmos): "
     "applied from Git once, no longer rendered by overlays/production, still in the cluster*"),
    ("config-applied-from-older-revision", CONFIGURATION, GITOPS,
     "*BAK-CONFIG-GITOPS: *ConfigMap/kosmos-config (ns kosmos): data.KOSMOS_DEBUG_ENDPOINTS is set in the cluster, not "
     "in Git; ConfigMap/kosmos-config (ns kosmos): last applied from another revision*"),
    ("config-pods-run-old-image", CONFIGURATION, GITOPS,
     "*BAK-CONFIG-GITOPS: *Deployment/kosmos-api (ns kosmos): pod kosmos-api-* runs registry.kosmos.internal/kosmos/"
     "api:3.7.4, Git renders registry.kosmos.internal/kosmos/api:3.8.2*"),
    ("ingress-drifted", CONFIGURATION, GITOPS,
     "*BAK-CONFIG-GITOPS: DR cluster drifted from production@*: Ingress/kosmos-api (ns kosmos): "
     "spec.rules[[]0].http.paths[[]0].backend.service.name: Git 'kosmos-api', cluster 'kosmos-maintenance-page'*"),
    # REC-CONFIG-APPLY
    ("config-object-created-by-hand", CONFIGURATION, APPLY,
     "*REC-CONFIG-APPLY: overlays/production@* server-side dry run exit 0, but the apply warns: resource "
     "services/zeus-orchestrator is missing the kubectl.kubernetes.io/last-applied-configuration annotation*"),
    # BAK-CONFIG-MIRROR
    ("config-mirror-truncated", CONFIGURATION, MIRROR,
     "*BAK-CONFIG-MIRROR: backup copy s3://kosmos-backups/config/kosmos-infrastructure.bundle names production@* but "
     "does not restore: fatal: early EOF*"),
    ("config-mirror-incremental", CONFIGURATION, MIRROR,
     "*BAK-CONFIG-MIRROR: *names production@* but does not restore: error: Repository lacks these prerequisite commits*"),
]


@pytest.mark.parametrize(("fault_name", "suite", "failing_test", "message"), CASES, ids=[c[0] for c in CASES])
def test_wrong_world_fails_exactly_its_check(sandbox, fault, pytester, fault_name, suite, failing_test, message):
    fault(fault_name)
    result = run_suite(pytester, suite, "-rf")
    expected = {"passed": TESTS_IN[suite] - 1, "failed": 1} if TESTS_IN[suite] > 1 else {"failed": 1}
    assert result.parseoutcomes() == expected, result.stdout.str()
    result.stdout.fnmatch_lines([f"DR check failed: {message.lstrip('*')}", f"FAILED *::{failing_test}*"])


def test_an_overlay_emptied_on_production_fails_gitops_and_the_dry_run(sandbox, fault, pytester):
    fault("config-overlay-emptied")
    result = run_suite(pytester, CONFIGURATION, "-rf")
    assert result.parseoutcomes() == {"passed": 1, "failed": 2}, result.stdout.str()
    result.stdout.fnmatch_lines([
        "DR check failed: BAK-CONFIG-GITOPS: overlays/production@* renders 0 objects: the branch configures nothing*",
    ])
    result.stdout.fnmatch_lines(["DR check failed: REC-CONFIG-APPLY: overlays/production does not apply to the DR "
                                 "cluster: error: no objects passed to apply*"])


def test_a_dr_cluster_that_does_not_serve_a_rendered_kind_fails_gitops_and_the_dry_run(sandbox, fault, pytester):
    """Found through API discovery: the overlay's Ingress (networking.k8s.io/v1) cannot run where it is not served."""
    fault("ingress-api-not-served")
    result = run_suite(pytester, CONFIGURATION, "-rf")
    assert result.parseoutcomes() == {"passed": 1, "failed": 2}, result.stdout.str()
    result.stdout.fnmatch_lines(["DR check failed: BAK-CONFIG-GITOPS: DR cluster drifted from production@*: "
                                 "overlays/production renders Ingress (networking.k8s.io/v1) but the DR cluster does "
                                 "not serve it (kosmos-api)*"])
    result.stdout.fnmatch_lines(["DR check failed: REC-CONFIG-APPLY: overlays/production does not apply to the DR "
                                 "cluster: *"])


def test_a_grafana_without_its_data_source_leaves_availability_unverified_not_passed(sandbox, fault, pytester):
    fault("grafana-fresh-install")
    result = run_suite(pytester, AVAILABILITY)
    assert result.parseoutcomes() == {"broken": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(["BROKEN *OBJ-AVAILABILITY: could not verify: Prometheus query_range via Grafana "
                                 "(prometheus): HTTP 404*"])


def test_every_gate_criterion_of_this_domain_has_three_fault_twins(sandbox):
    named = {}
    for fault in sandbox.faults():
        for criterion in fault["criteria"]:
            named.setdefault(criterion, []).append(fault["name"])
    for criterion in ("VAL-API-HEALTH", "VAL-SMOKE", "VAL-AGENT-ROUTING", "VAL-MONITORING", "OBJ-AVAILABILITY",
                      "BAK-CONFIG-GITOPS", "BAK-CONFIG-MIRROR", "REC-CONFIG-APPLY"):
        assert len(named.get(criterion, [])) >= 3, (criterion, named.get(criterion))
