"""The agent-state bucket of both sandbox layouts, against the checks, without the sandbox daemon: moto
in-process, the archives written as ``ctx.layout`` says, the target that layout prints
(``target_toml``). Both layouts pass every BAK-AGENT check; each agent-state fault, applied on either
layout, fails the checks it names and its revert restores a passing bucket."""

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from pytest_kosmos_dr.checks import agent_backups as ab
from pytest_kosmos_dr.checks.backups import Reference
from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.sandbox import AGENTS
from pytest_kosmos_dr.sandbox.layout import ALTERNATE, DEFAULT, target_toml

moto = pytest.importorskip("moto")

NOT_JUDGED_HERE = {"OBJ-RPO", "OBJ-RTO", "REC-AGENT-STATE"}  # other suites' criteria a fault also names


def target_of(layout, tmp_path):
    path = tmp_path / f"{layout.name}.toml"
    path.write_text(target_toml(layout, "t"))
    return load_config(tmp_path, explicit=str(path)).target("t")


def agent_pod(namespace, agent):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{agent}-0", "namespace": namespace,
                         "labels": {"app.kubernetes.io/component": "agent", "app.kubernetes.io/name": agent}},
            "spec": {"containers": [{"name": "agent", "image": "kosmos/agent", "args": [f"--agent={agent}"]}]},
            "status": {"phase": "Running"}}


@pytest.fixture(scope="module", params=[DEFAULT, ALTERNATE], ids=lambda layout: layout.name)
def bucket(request, tmp_path_factory):
    """A moto bucket filled as the layout says, its target, a cluster store holding the agents' pods, and
    the agent-state faults bound to it (one per layout: every fault's revert must leave it passing)."""
    import boto3

    from pytest_kosmos_dr.sandbox.aws import agent_state
    from pytest_kosmos_dr.sandbox.aws.agent_state_faults import agent_state_faults
    from pytest_kosmos_dr.sandbox.kube.resources import find_type
    from pytest_kosmos_dr.sandbox.kube.store import ClusterStore

    layout = request.param
    target = target_of(layout, tmp_path_factory.mktemp(layout.name))
    incident = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=layout.secondary_region, aws_access_key_id="k", aws_secret_access_key="s")
        agent_state.create_bucket(s3, layout.secondary_region, list(AGENTS), incident, layout=layout)
        store = ClusterStore()
        for agent in AGENTS:
            store.create(find_type("", "v1", "pods"), agent_pod(layout.namespace, agent))
        ctx = SimpleNamespace(layout=layout, state={"agents": list(AGENTS)},
                              components={"kubernetes": SimpleNamespace(store=store)})
        aws = SimpleNamespace(s3=s3, ctx=ctx, incident_start=incident)
        yield SimpleNamespace(s3=s3, target=target, layout=layout, store=store, incident=incident,
                              faults={f.name: f for f in agent_state_faults(aws)})


def judge(b) -> dict[str, object]:
    """Every BAK-AGENT verdict, as the suites reach it (agents: listed plus running in the cluster)."""
    from pytest_kosmos_dr.sandbox.kube.resources import find_type

    target = b.target
    listing = ab.list_agent_versions(b.s3, target.backups, target.agents)
    pods = b.store.list(find_type("", "v1", "pods"), target.kubernetes.namespace)
    discovered = ab.unlisted_running_agents(pods, target.kubernetes.agent_label, target.agents)
    agents = [a.name for a in target.agents] + list(discovered)
    reference = Reference(b.incident, "the incident start")
    keep = target.objectives.agent_state_retention
    rules = ab.lifecycle_rules(b.s3, target.backups.bucket)
    return {
        "BAK-AGENT-REALTIME": ab.agent_realtime(listing, agents, reference, rpo=target.objectives.rpo, discovered=discovered),
        "BAK-AGENT-VERSIONING": ab.agent_versioning(b.s3, listing, agents, reference, retention=keep, discovered=discovered),
        "BAK-AGENT-RETENTION": ab.agent_retention(rules, listing, agents, reference, retention=keep, discovered=discovered),
        "BAK-AGENT-ARCHIVE": ab.agent_archive(b.s3, listing, agents, discovered),
    }


def test_both_layouts_write_what_their_target_describes(bucket):
    results = judge(bucket)
    assert {cid: r.summary for cid, r in results.items() if not r.passed} == {}
    listing = ab.list_agent_versions(bucket.s3, bucket.target.backups, bucket.target.agents)
    key = ab.newest_archive(listing, "zeus-orchestrator")["Key"]
    assert key.startswith(bucket.layout.agent_state_prefix)
    assert bucket.layout.archive_name("zeus-orchestrator") in key
    if bucket.layout is ALTERNATE:  # the plan's flat keys: one a day, the day's backups its versions
        assert "/" not in key[len(bucket.layout.agent_state_prefix):]
        assert len([v for v in listing.versions if v["Key"] == key]) > 1
        assert "with memory.json," in results["BAK-AGENT-ARCHIVE"].summary


@pytest.mark.parametrize("name", [
    "agent-backups-deleted-40m", "agent-backup-placeholders-40m", "agent-versioning-suspended-window",
    "agent-versioning-enabled-late", "agent-lifecycle-deep-archive-1d", "agent-history-hole-3d",
    "agent-archive-of-another-agent", "agent-archive-empty-state", "agent-archive-member-missing",
    "unlisted-agent-without-backup",
])
def test_every_agent_state_fault_works_on_both_layouts(bucket, name):
    fault = bucket.faults[name]
    asyncio.run(fault.apply())
    try:
        results = judge(bucket)
    finally:
        asyncio.run(fault.revert())
    failed = {cid for cid, r in results.items() if not r.passed}
    assert failed == set(fault.criteria) - NOT_JUDGED_HERE, {cid: r.summary for cid, r in results.items()}
    if name == "unlisted-agent-without-backup":
        for cid in failed:
            assert "apollo-scout runs in the DR cluster (pod apollo-scout-0) but has no state archive under s3://" \
                f"{bucket.layout.bucket}/{bucket.layout.agent_state_prefix}" in results[cid].summary
    after = judge(bucket)
    assert {cid: r.summary for cid, r in after.items() if not r.passed} == {}, f"{name} revert left a wrong world"


@pytest.mark.parametrize("name", ["none", "agent-backups-deleted-40m", "agent-backup-placeholders-40m", "agent-history-hole-3d"])
def test_backups_at_reads_the_same_from_the_remembered_key_facts(bucket, name):
    """``backups_at`` of a listing (which keeps each key's facts for its second caller) answers as over a
    plain listing, where each key is worked out afresh; asked twice, at two times, under a fault."""
    fault = bucket.faults.get(name)  # "none": the healthy bucket
    if fault is not None:
        asyncio.run(fault.apply())
    try:
        listing = ab.list_agent_versions(bucket.s3, bucket.target.backups, bucket.target.agents)
        plain = SimpleNamespace(versions=listing.versions, delete_markers=listing.delete_markers, layout=listing.layout)
        for agent in [a.name for a in bucket.target.agents]:
            for at in (bucket.incident, bucket.incident - timedelta(hours=2), bucket.incident):
                assert ab.backups_at(listing, agent, at) == ab.backups_at(plain, agent, at)
            assert ab.backups_at(listing, agent, bucket.incident)[0], agent
    finally:
        if fault is not None:
            asyncio.run(fault.revert())
