"""The run-level files of an Allure results folder: environment, executor (CI) and categories."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from ..redaction import redact

CATEGORIES = [
    {
        "name": "DR objective missed",
        "description": "A recovery objective (OBJ-*: RTO, RPO, availability) was measured and missed.",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*\bOBJ-[A-Z0-9-]+: .*",
    },
    {
        "name": "DR check failed",
        "description": "The DR environment was checked and does not meet a criterion of the plan.",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s)(?!.*\bOBJ-[A-Z0-9-]+: ).*",
    },
    {
        "name": "could not verify",
        "description": "The check could not look (unreachable, credentials, timeout, no evidence): "
                       "the DR environment was NOT verified.",
        "matchedStatuses": ["broken"],
    },
]

VERSIONED = ("pytest-kosmos-dr", "pytest", "allure-pytest", "pytest-xdist", "botocore", "kubernetes", "psycopg")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in VERSIONED:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _verdict_environment(card: dict) -> dict[str, str]:
    """The verdict, RTO and RPO against the objectives (Allure's Environment widget on the overview)."""
    from .scorecard import VERDICT_WORDS, _objective_line

    return {"dr.verdict": VERDICT_WORDS.get(card["verdict"], card["verdict"].upper()),
            "dr.rto": _objective_line("RTO", card["objectives"]["rto"]).removeprefix("RTO: "),
            "dr.rpo": _objective_line("RPO", card["objectives"]["rpo"]).removeprefix("RPO: ")}


def _target_environment(target, incident_start: str | None, ledger_head: str | None) -> dict[str, str]:
    env = {
        "target": target.name,
        "target.kind": target.kind,
        "target.production": str(bool(target.production)).lower(),
        "regions": f"{target.aws.primary_region} -> {target.aws.secondary_region}",
        "kube.context": target.kubernetes.context,
        "kube.namespace": target.kubernetes.namespace,
        "incident.start": incident_start or "not given",
    }
    if ledger_head:
        env["drill.ledger.head"] = ledger_head
    return env


def environment(targets, incident_start: str | None = None, ledger_head: str | None = None,
                verdicts: Mapping[str, dict] | None = None) -> dict[str, str]:
    """What ran against what: the target, its regions and cluster, the incident, the versions, and
    the drill ledger's head after this run (keep it: ``--dr-ledger-head`` detects a rewrite).

    ``targets``: one target, or a list of ``(target, incident_start, ledger_head)``; with several,
    ``targets`` names them all and each one's keys are prefixed ``<name>.`` (``east.regions=...``)."""
    if not isinstance(targets, (list, tuple)):
        targets = [(targets, incident_start, ledger_head)]
    verdicts = verdicts or {}
    if len(targets) == 1:
        card = verdicts.get(targets[0][0].name)
        env = {**(_verdict_environment(card) if card else {}), **_target_environment(*targets[0])}
    else:
        env = {"targets": ", ".join(t.name for t, _, _ in targets)}
        for target, start, head in targets:
            card = verdicts.get(target.name)
            own = {**(_verdict_environment(card) if card else {}), **_target_environment(target, start, head)}
            env.update({f"{target.name}.{k}": v for k, v in own.items()})
    env.update({f"version.{name}": value for name, value in versions().items()})
    return env


def _escape(text: str, key: bool = False) -> str:
    out = []
    for ch in str(text):
        if ch in "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch in "=:#!" or (key and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def properties(values: Mapping[str, str]) -> str:
    """Java .properties text (what Allure reads for its Environment widget)."""
    return "".join(f"{_escape(k, key=True)}={_escape(redact(str(v)))}\n" for k, v in values.items())


def executor(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Allure's executor.json from GitHub Actions, GitLab CI or Jenkins variables; None outside CI."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY", "")
        run_id = env.get("GITHUB_RUN_ID", "")
        number = env.get("GITHUB_RUN_NUMBER", "")
        return _clean({
            "name": "GitHub Actions", "type": "github",
            "url": f"{server}/{repo}",
            "buildOrder": _int(number),
            "buildName": f"{env.get('GITHUB_WORKFLOW', 'workflow')} #{number}".strip(),
            "buildUrl": f"{server}/{repo}/actions/runs/{run_id}" if run_id else None,
        })
    if env.get("GITLAB_CI") == "true":
        return _clean({
            "name": "GitLab CI", "type": "gitlab",
            "url": env.get("CI_PROJECT_URL"),
            "buildOrder": _int(env.get("CI_PIPELINE_IID") or env.get("CI_PIPELINE_ID")),
            "buildName": f"{env.get('CI_JOB_NAME', 'job')} #{env.get('CI_PIPELINE_IID') or env.get('CI_PIPELINE_ID', '')}",
            "buildUrl": env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"),
        })
    if env.get("JENKINS_URL"):
        return _clean({
            "name": "Jenkins", "type": "jenkins",
            "url": env.get("JENKINS_URL"),
            "buildOrder": _int(env.get("BUILD_NUMBER")),
            "buildName": env.get("BUILD_TAG") or f"{env.get('JOB_NAME', 'job')} #{env.get('BUILD_NUMBER', '')}",
            "buildUrl": env.get("BUILD_URL"),
            "reportUrl": (env["BUILD_URL"].rstrip("/") + "/allure") if env.get("BUILD_URL") else None,
        })
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items() if v not in (None, "")}


def write(results_dir: Path, targets, incident_start: str | None = None, ledger_head: str | None = None,
          verdicts: Mapping[str, dict] | None = None) -> list[Path]:
    """Write environment.properties, categories.json and (in CI) executor.json into ``results_dir``.

    ``targets``: as for ``environment`` (one target, or ``(target, incident_start, ledger_head)`` each)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    written = [results_dir / "environment.properties", results_dir / "categories.json"]
    written[0].write_text(properties(environment(targets, incident_start, ledger_head, verdicts)), encoding="utf-8")
    written[1].write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    ci = executor()
    if ci is not None:
        path = results_dir / "executor.json"
        path.write_text(json.dumps(ci, indent=2), encoding="utf-8")
        written.append(path)
    return written
