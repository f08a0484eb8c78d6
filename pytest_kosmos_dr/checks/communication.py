"""Communication Plan (COM-*): what the incident record says was communicated, and the status page.

The evidence checks take an ``IncidentRecord`` (see ``incident_record.py``) and the clock; when
the record cannot settle a criterion *yet* (the incident is still ongoing, the post-mortem is not
due) they raise ``NotVerified`` instead of passing. COM-STATUS-PAGE is a gate: it asks the
public status page (Statuspage API v2) itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from ..clients import http as http_client
from ..incident_record import IncidentRecord
from ..results import CheckResult, Evidence, trim
from ..timeparse import isoformat, utcnow

NOT_VERIFIED = "not verified:"  # every "could not be judged from the evidence" reason starts with this
INCIDENT_CHANNEL = "#incidents"  # the plan: "Incident declared: Slack #incidents + PagerDuty"
RESOLUTION_AUDIENCE = "all-hands"  # the plan: "Resolution: Email to all-hands"
RESOLVED_STATUSES = {"resolved", "postmortem", "completed"}


class NotVerified(Exception):
    """The evidence cannot settle the criterion (yet): reported as skipped "not verified: ...", never passed."""

    def __init__(self, reason: str) -> None:
        if not reason.startswith(NOT_VERIFIED):
            reason = f"{NOT_VERIFIED} {reason}"
        super().__init__(reason)


def human(delta: timedelta) -> str:
    """``25 min``, ``2 h 05 min``, ``60 h``, ``40 d``: durations as the plan writes them."""
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{sign}{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 72:
        return f"{sign}{hours} h" + (f" {mins:02d} min" if mins else "")
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d" + (f" {hours} h" if hours else "")


def _record_evidence(record: IncidentRecord, title: str, answer: str) -> Evidence:
    return Evidence(title, f"incident record {record.path} (incident {record.incident_id})", answer)


def incident_declared(record: IncidentRecord, channel: str = INCIDENT_CHANNEL) -> CheckResult:
    """COM-INCIDENT-DECLARED: declared in the incident channel and in the paging system, with times."""
    cid = "COM-INCIDENT-DECLARED"
    limit = f"declared in {channel} and paged, with timestamps"
    declared = record.declared
    if declared is None:
        return CheckResult(cid, False, f"incident {record.incident_id} was never declared (declared is null); "
                           f"expected {limit}", measured="not declared", limit=limit,
                           evidence=[_record_evidence(record, "declaration", "declared: null")])
    paging = declared.paging
    shown = (f"declared in {declared.channel} at {isoformat(declared.at)} "
             f"({human(declared.at - record.started_at)} after the start)")
    paged = (f"paged via {paging.system} incident {paging.incident_id} at {isoformat(paging.at)}"
             if paging else "not paged (paging is null)")
    evidence = [_record_evidence(record, "declaration", f"{shown}\n{paged}")]
    problems = []
    if declared.channel != channel:
        problems.append(f"declared in {declared.channel}, not {channel}")
    if paging is None:
        problems.append("nobody was paged (no paging-system incident)")
    measured = {"channel": declared.channel, "paging": f"{paging.system} {paging.incident_id}" if paging else None}
    if problems:
        return CheckResult(cid, False, f"{'; '.join(problems)} (expected {limit})", measured=measured,
                           limit=limit, offenders=problems, evidence=evidence)
    return CheckResult(cid, True, f"{shown}; {paged}", measured=measured, limit=limit, evidence=evidence)


def update_cadence(record: IncidentRecord, interval: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-UPDATES-30MIN: no gap longer than ``interval`` from declaration, through every update, to
    resolution (or to now while the incident is ongoing)."""
    cid = "COM-UPDATES-30MIN"
    now = now or utcnow()
    if record.declared is not None:
        begin, begin_label = record.declared.at, "declaration"
    else:
        begin, begin_label = record.started_at, "incident start (never declared)"
    if record.resolution is not None:
        end, end_label = record.resolution.resolved_at, "resolution"
    else:
        end, end_label = max(now, begin), "now (incident ongoing)"
    points = [(begin, begin_label)]
    points += [(u.at, f"update {isoformat(u.at)}") for u in record.updates if begin <= u.at <= end]
    points.append((end, end_label))
    gaps = [(b[0] - a[0], a, b) for a, b in zip(points, points[1:])]
    largest, first, second = max(gaps, key=lambda g: g[0])
    offenders = [f"{a[1]} -> {b[1]}: {human(gap)}" for gap, a, b in gaps if gap > interval]
    timeline = "\n".join(f"{isoformat(at)}  {label}" for at, label in points)
    evidence = [_record_evidence(record, "update timeline", timeline)]
    count = len(points) - 2
    where = f"between {first[1]} and {second[1]}"
    if offenders:
        return CheckResult(cid, False, f"largest gap between updates {human(largest)} ({where}), limit "
                           f"{human(interval)}; {len(offenders)} gap(s) too long", measured=largest, limit=interval,
                           offenders=offenders, evidence=evidence)
    span = f"{begin_label} to {end_label}"
    return CheckResult(cid, True, f"{count} update(s) from {span}: largest gap {human(largest)}, "
                       f"limit {human(interval)}", measured=largest, limit=interval, evidence=evidence)


def customer_notice(record: IncidentRecord, within: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-CUSTOMER-15MIN: the customer email went out within ``within`` of the incident start."""
    cid = "COM-CUSTOMER-15MIN"
    now = now or utcnow()
    email = record.customer_email
    start = isoformat(record.started_at)
    if email is None:
        elapsed = now - record.started_at
        if elapsed <= within:
            raise NotVerified(f"customer email not due yet (due {human(within)} after the start {start}; "
                              f"{human(within - elapsed)} left)")
        return CheckResult(cid, False, f"no customer email {human(elapsed)} after the incident start ({start}), "
                           f"limit {human(within)}", measured=None, limit=within,
                           evidence=[_record_evidence(record, "customer email", "customer_email: null")])
    delay = email.sent_at - record.started_at
    evidence = [_record_evidence(record, "customer email",
                                 f"incident start {start}\nsent {isoformat(email.sent_at)} to {email.audience}")]
    verdict = "" if delay <= within else " (too late)"
    return CheckResult(cid, delay <= within, f"customer email sent {human(delay)} after the incident start{verdict}, "
                       f"limit {human(within)}", measured=delay, limit=within, evidence=evidence)


def resolution_email(record: IncidentRecord, audience: str = RESOLUTION_AUDIENCE) -> CheckResult:
    """COM-RESOLUTION-EMAIL: a resolution email went to all-hands."""
    cid = "COM-RESOLUTION-EMAIL"
    resolution = record.resolution
    if resolution is None:
        raise NotVerified(f"incident {record.incident_id} not resolved yet (resolution is null in {record.path})")
    email = resolution.email
    resolved = isoformat(resolution.resolved_at)
    if email is None:
        return CheckResult(cid, False, f"resolved at {resolved} but no resolution email was sent "
                           f"(expected one to {audience})", measured=None, limit=audience,
                           evidence=[_record_evidence(record, "resolution email", "resolution.email: null")])
    recipients = ", ".join(email.to)
    evidence = [_record_evidence(record, "resolution email",
                                 f"resolved {resolved}\nemail sent {isoformat(email.sent_at)} to {recipients}")]
    if audience not in email.to:
        return CheckResult(cid, False, f"resolution email went to {recipients}, not {audience}", measured=recipients,
                           limit=audience, offenders=list(email.to), evidence=evidence)
    return CheckResult(cid, True, f"resolution email sent {isoformat(email.sent_at)} to {recipients} "
                       f"(required: {audience})", measured=recipients, limit=audience, evidence=evidence)


def postmortem_published(record: IncidentRecord, within: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-POSTMORTEM-48H: published within ``within`` of resolution (judged once due or published)."""
    cid = "COM-POSTMORTEM-48H"
    now = now or utcnow()
    resolution = record.resolution
    if resolution is None:
        raise NotVerified(f"incident {record.incident_id} not resolved yet, so no post-mortem is due "
                          f"(resolution is null in {record.path})")
    resolved = resolution.resolved_at
    postmortem = record.postmortem
    if postmortem is None:
        elapsed = now - resolved
        if elapsed <= within:
            raise NotVerified(f"post-mortem not due yet (due {human(within)} after the resolution at "
                              f"{isoformat(resolved)}; {human(within - elapsed)} left)")
        return CheckResult(cid, False, f"no post-mortem {human(elapsed)} after the resolution, limit {human(within)}",
                           measured=None, limit=within,
                           evidence=[_record_evidence(record, "post-mortem", "postmortem: null")])
    delay = postmortem.published_at - resolved
    evidence = [_record_evidence(record, "post-mortem", f"resolved {isoformat(resolved)}\n"
                                 f"published {isoformat(postmortem.published_at)} at {postmortem.url}")]
    verdict = "" if delay <= within else " (too late)"
    return CheckResult(cid, delay <= within, f"post-mortem published {human(delay)} after the resolution{verdict}, "
                       f"limit {human(within)}", measured=delay, limit=within, evidence=evidence)


def status_page(page: httpx.Client, incident_start: datetime | None, resolved_at: datetime | None) -> CheckResult:
    """COM-STATUS-PAGE: during an incident (a known start, no recorded resolution) the page must show
    an unresolved incident or a status other than "none"; otherwise it must answer its status."""
    cid = "COM-STATUS-PAGE"
    path = "/api/v2/summary.json"
    asked = f"GET {page.base_url}{path}\n(shell: curl -sS {page.base_url}{path})"
    during = incident_start is not None and resolved_at is None
    limit = "an unresolved incident or status other than 'none'" if during else "the current status"
    answer = http_client.get(page, path, "status page")
    if isinstance(answer, str):
        return CheckResult(cid, False, f"status page {page.base_url} did not answer: {answer}", measured=answer,
                           limit=limit, evidence=[Evidence("status page summary", asked, answer)])
    evidence = [Evidence("status page summary", asked, f"HTTP {answer.status_code}\n{trim(answer.text)}")]
    try:
        body = answer.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    status = body.get("status") if isinstance(body, dict) else None
    if answer.status_code != 200 or not isinstance(status, dict) or "indicator" not in status:
        return CheckResult(cid, False, f"status page {path}: HTTP {answer.status_code}, no status indicator "
                           f"(expected a Statuspage v2 summary)", measured=answer.status_code, limit=limit,
                           evidence=evidence)
    indicator = status.get("indicator")
    description = status.get("description", "")
    incidents = body.get("incidents") if isinstance(body.get("incidents"), list) else []
    unresolved = [i for i in incidents if isinstance(i, dict) and i.get("status") not in RESOLVED_STATUSES]
    shown = f"indicator {indicator!r} ({description}), {len(unresolved)} unresolved incident(s)"
    measured = {"indicator": indicator, "unresolved incidents": len(unresolved)}
    if not during:
        return CheckResult(cid, True, f"status page answers: {shown}", measured=measured, limit=limit,
                           evidence=evidence)
    if unresolved or indicator != "none":
        names = ", ".join(str(i.get("name", i.get("id", "?"))) for i in unresolved) or "no incident listed"
        return CheckResult(cid, True, f"status page shows the incident: {shown} ({names})", measured=measured,
                           limit=limit, evidence=evidence)
    return CheckResult(cid, False, f"status page shows all green ({shown}) during the incident that started "
                       f"{isoformat(incident_start)}", measured=measured, limit=limit,
                       offenders=[str(page.base_url)], evidence=evidence)
