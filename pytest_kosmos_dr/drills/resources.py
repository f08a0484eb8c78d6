"""What a run creates, how it is tagged, and how it is removed: only what carries our tags.

Every created resource is recorded in the run folder *before* the create call returns, tagged
with the run id, the host and the owning process; teardown and ``kosmos-dr cleanup`` delete an
instance only after reading those tags back from AWS.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

TAG_CREATED_BY = "kosmos-dr:created-by"
TAG_RUN = "kosmos-dr:run"
TAG_HOST = "kosmos-dr:host"
TAG_PID = "kosmos-dr:pid"
TAG_PURPOSE = "kosmos-dr:purpose"
CREATOR = "pytest-kosmos-dr"
LEDGER = "created.jsonl"


def drill_tags(run_id: str, owner_pid: int, purpose: str) -> list[dict[str, str]]:
    return [
        {"Key": TAG_CREATED_BY, "Value": CREATOR},
        {"Key": TAG_RUN, "Value": run_id},
        {"Key": TAG_HOST, "Value": socket.gethostname()},
        {"Key": TAG_PID, "Value": str(owner_pid)},
        {"Key": TAG_PURPOSE, "Value": purpose},
    ]


def tags_of(tag_list: list[dict]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


@dataclass(frozen=True)
class CreatedInstance:
    region: str
    identifier: str
    run_id: str


def record(run_dir: Path, created: CreatedInstance) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LEDGER, "a") as handle:
        handle.write(json.dumps(created.__dict__) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def recorded(run_dir: Path) -> list[CreatedInstance]:
    path = run_dir / LEDGER
    if not path.exists():
        return []
    return [CreatedInstance(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def delete_if_ours(rds, identifier: str, run_id: str | None = None) -> str:
    """Delete ``identifier`` only if its tags say this tool (and, if given, this run) created it.

    Returns what happened, one word: deleted, absent, not-ours.
    """
    from botocore.exceptions import ClientError

    try:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            return "absent"
        raise
    tags = tags_of(instance.get("TagList") or rds.list_tags_for_resource(
        ResourceName=instance["DBInstanceArn"])["TagList"])
    if tags.get(TAG_CREATED_BY) != CREATOR or (run_id is not None and tags.get(TAG_RUN) != run_id):
        return "not-ours"
    if instance.get("DBInstanceStatus") != "deleting":
        rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    return "deleted"


def process_alive(pid) -> bool:
    """The process ``pid`` (int or text) runs on this host; a zombie (exited, not yet reaped) does not."""
    try:
        number = int(pid)
        if number <= 0:
            return False
        os.kill(number, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{number}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_alive(tags: dict[str, str]) -> bool:
    """True when the run that created it still runs on this host (cleanup must leave it alone)."""
    return tags.get(TAG_HOST) == socket.gethostname() and process_alive(tags.get(TAG_PID, "0"))


def leftovers(rds) -> list[tuple[str, dict[str, str]]]:
    """Instances this tool created (by tag) whose run is gone: (identifier, tags)."""
    found = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        for instance in page["DBInstances"]:
            tags = tags_of(instance.get("TagList") or [])
            if tags.get(TAG_CREATED_BY) == CREATOR and not owner_alive(tags):
                found.append((instance["DBInstanceIdentifier"], tags))
    return found


def tagged_instances(rds) -> list[tuple[str, dict[str, str]]]:
    """Every instance this tool created (by tag), live run or not: (identifier, tags)."""
    found = []
    for page in rds.get_paginator("describe_db_instances").paginate():
        for instance in page["DBInstances"]:
            tags = tags_of(instance.get("TagList") or [])
            if tags.get(TAG_CREATED_BY) == CREATOR:
                found.append((instance["DBInstanceIdentifier"], tags))
    return found


def local_owner_state(tags: dict[str, str]) -> bool | None:
    """What this host knows of the run that created an instance: True (its process runs here), False (it
    was created here and its process is gone), None (created on another host: ask the drill lease)."""
    if tags.get(TAG_HOST) != socket.gethostname():
        return None
    return owner_alive(tags)
