"""The scorecard in the Allure report, so that the report answers an auditor's questions alone.

Written by the controller at the end of the run (``ReportingPlugin.write_run_files``):

* one synthetic test result per target, "DR verdict: PASSED (target sandbox)", pinned first (its
  start is the run's start, its feature and suite "0. DR verdict"), its status the verdict's
  (passed, failed; could not verify: broken; partial, nothing verified: unknown; interrupted:
  broken), with the scorecard as its HTML description and attachment: the verdict, RTO and RPO
  against the objectives, and per plan section (in the plan's order) what passed, failed, could not
  be verified, was not verified and was not run, each criterion with its reason;
* ``tidy_results``: each DR test's message becomes the plain one-line reason with its criterion
  ID (no Python class names), each test page shows its start time (parameter "started"), and the
  plugin's internal fixtures (``dr_check``, ``dr_run``, their ``<lambda>`` finalizers) leave Set up
  and Tear down.
"""

from __future__ import annotations

import hashlib
import html
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..redaction import redact
from ..timeparse import isoformat
from . import labels as plan_labels
from .scorecard import STATUS_WORDS, STATUSES, VERDICT_WORDS

VERDICT_FEATURE = "0. DR verdict"
ALLURE_STATUS = {"passed": "passed", "failed": "failed", "not verified": "broken", "interrupted": "broken",
                 "partial": "unknown", "nothing verified": "unknown"}
REASON_LABEL = "kosmos_dr_reason"  # set on a DR test during the run; becomes its message, then removed
INTERNAL_FIXTURES = {"dr_check", "dr_run"}


def _objective_html(name: str, obj: dict | None) -> str:
    from .scorecard import format_json_value

    if obj is None:
        return f"<li><b>{name}</b>: not measured (its criterion did not run)</li>"
    objective = format_json_value(obj["objective"]) if obj.get("objective") else "-"
    if "measured" not in obj:
        return (f"<li><b>{name}</b> (objective {html.escape(objective)}): {html.escape(STATUS_WORDS.get(obj['status'], obj['status']))}"
                f" - {html.escape(obj.get('reason') or 'no measurement')}</li>")
    within = obj.get("within")
    mark = "within the objective" if within else ("MISSED" if within is False else STATUS_WORDS.get(obj["status"], ""))
    return (f"<li><b>{name}</b>: measured {html.escape(format_json_value(obj['measured']))}, objective "
            f"{html.escape(objective)}: <b>{html.escape(mark)}</b> - {html.escape(obj.get('summary') or '')}</li>")


def scorecard_html(card: dict[str, Any]) -> str:
    """The scorecard as one HTML fragment (Allure shows it on the verdict's page)."""
    verdict = card["verdict"]
    colour = {"passed": "#2e7d32", "failed": "#c62828"}.get(verdict, "#ef6c00")
    rows = []
    for section in card["sections"]:
        cells = "".join(f"<td style='text-align:right'>{section[s]}</td>" for s in STATUSES)
        rows.append(f"<tr><td>{html.escape(section['section'])}</td>{cells}</tr>")
    totals = card["totals"]["criteria"]
    rows.append("<tr><td><b>all</b></td>" + "".join(f"<td style='text-align:right'><b>{totals[s]}</b></td>"
                                                     for s in STATUSES) + "</tr>")
    head = "".join(f"<th>{html.escape(STATUS_WORDS[s])}</th>" for s in STATUSES)
    per_section: dict[str, list[dict]] = {}
    for row in card["criteria"]:
        per_section.setdefault(row["section"], []).append(row)
    details = []
    for section in card["sections"]:
        items = []
        for row in per_section.get(section["section"], []):
            reason = row.get("reason") or row.get("evidence_source") or ""
            items.append(f"<li><code>{html.escape(row['id'])}</code> {html.escape(STATUS_WORDS[row['status']])}"
                         f" - {html.escape(row['title'])}{': ' + html.escape(reason) if reason else ''}</li>")
        details.append(f"<h4>{html.escape(section['section'])}</h4><ul>{''.join(items)}</ul>")
    gate = card.get("gate_not_verified") or []
    parts = [
        f"<h3 style='color:{colour}'>DR verdict: {html.escape(VERDICT_WORDS.get(verdict, verdict.upper()))}</h3>",
        f"<p>{html.escape(card['verdict_text'])}</p>",
        f"<p>target <b>{html.escape(card['target']['name'])}</b> ({html.escape(card['target']['kind'])}); "
        f"scorecard generated {html.escape(card.get('generated_at', ''))}</p>",
        "<ul>" + _objective_html("RTO", card["objectives"]["rto"]) + _objective_html("RPO", card["objectives"]["rpo"])
        + "</ul>",
        *([f"<p>gate criteria not verified in this run ({len(gate)}): {html.escape(', '.join(gate))}</p>"]
          if gate and verdict != "passed" else []),
        f"<table border='1' cellpadding='3' style='border-collapse:collapse'><tr><th>plan section</th>{head}</tr>"
        + "".join(rows) + "</table>",
        *details,
    ]
    return redact("\n".join(parts))


def scorecard_text(card: dict[str, Any]) -> str:
    """The scorecard as the terminal prints it, then per plan section each criterion with its status and
    reason (Allure shows it preformatted on the verdict's page: its columns line up)."""
    from .scorecard import terminal_lines

    lines = [f"DR verdict: {VERDICT_WORDS.get(card['verdict'], card['verdict'].upper())}", *terminal_lines(card, None)]
    per_section: dict[str, list[dict]] = {}
    for row in card["criteria"]:
        per_section.setdefault(row["section"], []).append(row)
    for section in card["sections"]:
        lines += ["", section["section"]]
        for row in per_section.get(section["section"], []):
            reason = row.get("reason") or row.get("evidence_source") or ""
            lines.append(f"  {row['id']:<24} {STATUS_WORDS[row['status']]:<16} {row['title']}"
                         + (f"\n  {'':<24} {'':<16} {reason}" if reason else ""))
    return redact("\n".join(lines))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def write_verdict_result(results_dir: Path, card: dict[str, Any], started: datetime, finished: datetime,
                         link_pattern: str = plan_labels.DEFAULT_LINK_PATTERN) -> Path:
    """The synthetic "DR verdict" test result of one target, with the scorecard; returns its path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    target = card["target"]["name"]
    verdict = card["verdict"]
    ident = uuid.uuid4().hex
    body = scorecard_html(card)
    page = f"<!doctype html><meta charset='utf-8'><title>DR scorecard {html.escape(target)}</title>{body}"
    html_name = f"{ident}-attachment.html"
    json_name = f"{ident}-attachment.json"
    (results_dir / html_name).write_text(page, encoding="utf-8")
    (results_dir / json_name).write_text(redact(json.dumps(card, indent=2)), encoding="utf-8")
    history = hashlib.md5(f"kosmos-dr verdict {target}".encode()).hexdigest()
    plan = link_pattern.format(section_anchor="", section="", criterion="").rstrip("#")
    result = {
        "uuid": ident,
        "historyId": history,
        "testCaseId": history,
        "fullName": f"kosmos-dr#verdict[{target}]",
        "name": f"DR verdict: {VERDICT_WORDS.get(verdict, verdict.upper())} (target {target})",
        "status": ALLURE_STATUS.get(verdict, "unknown"),
        "statusDetails": {"message": card["verdict_text"]},
        "stage": "finished",
        "descriptionHtml": f"<pre>{html.escape(scorecard_text(card))}</pre>",
        "start": _ms(started) - 1,  # pinned first: it sorts before every test of the run
        "stop": _ms(finished),
        "parameters": [{"name": "started", "value": isoformat(started)}],
        "labels": [{"name": "epic", "value": plan_labels.EPIC}, {"name": "feature", "value": VERDICT_FEATURE},
                   {"name": "story", "value": f"DR verdict of target {target}"},
                   {"name": "parentSuite", "value": VERDICT_FEATURE}, {"name": "suite", "value": VERDICT_FEATURE},
                   {"name": "severity", "value": "blocker"}, {"name": "tag", "value": f"target:{target}"},
                   {"name": "framework", "value": "kosmos-dr"}],
        "links": [{"type": "link", "name": "DR plan", "url": plan}],
        "attachments": [{"name": "DR scorecard", "source": html_name, "type": "text/html"},
                        {"name": "dr-scorecard.json", "source": json_name, "type": "application/json"}],
    }
    path = results_dir / f"{ident}-result.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return path


def executor(cards: dict[str, dict], overall: dict | None, ci: dict | None) -> dict[str, Any]:
    """executor.json: the verdict as the build name (CI's name, number and URL kept when in CI)."""
    verdict = (overall or next(iter(cards.values()), {})).get("verdict", "nothing verified")
    names = ", ".join(cards)
    word = VERDICT_WORDS.get(verdict, verdict.upper())
    data = dict(ci or {"name": "kosmos-dr", "type": "local"})
    build = f"DR verdict: {word} ({names})"
    data["buildName"] = f"{build} - {data['buildName']}" if ci and ci.get("buildName") else build
    return data


def tidy_results(results_dir: Path, reasons: dict[str, str] | None = None) -> None:
    """Plain messages with the criterion ID, a start time on every DR test page, no internal fixtures."""
    for path in results_dir.glob("*-result.json"):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        labels = result.get("labels") or []
        reason = next((l["value"] for l in labels if l.get("name") == REASON_LABEL), None)
        if not any(l.get("name") == "story" for l in labels) and reason is None:
            continue  # not a DR test
        changed = False
        if reason is not None:
            result["labels"] = [l for l in labels if l.get("name") != REASON_LABEL]
            if result.get("status") in ("failed", "broken"):
                details = result.setdefault("statusDetails", {})
                details["message"] = reason
            changed = True
        params = result.setdefault("parameters", [])
        if result.get("start") and not any(p.get("name") == "started" for p in params):
            params.append({"name": "started",
                           "value": isoformat(datetime.fromtimestamp(result["start"] / 1000, timezone.utc))})
            changed = True
        if changed:
            path.write_text(json.dumps(result), encoding="utf-8")
    for path in results_dir.glob("*-container.json"):
        try:
            container = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        kept = {}
        for key in ("befores", "afters"):
            fixtures = container.get(key) or []
            kept[key] = [f for f in fixtures if not _internal(f)]
        if kept == {k: container.get(k) or [] for k in kept}:
            continue
        if not kept["befores"] and not kept["afters"]:
            path.unlink()
            continue
        container.update(kept)
        path.write_text(json.dumps(container), encoding="utf-8")


def _internal(fixture: dict) -> bool:
    """The plugin's plumbing (dr_check, dr_run, a ``<lambda>`` finalizer), unless it is what went wrong."""
    if fixture.get("status") in ("failed", "broken"):
        return False
    name = str(fixture.get("name") or "")
    base = name.split("::", 1)[0]
    return base in INTERNAL_FIXTURES or "<lambda>" in name or base.startswith("_")
