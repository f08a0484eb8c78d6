"""Communication Plan (COM-*): what the incident record says was communicated, and the status page.

The evidence checks take an ``IncidentRecord`` (see ``incident_record.py``) and the clock; when
the record cannot settle a criterion *yet* (the incident is still ongoing, the post-mortem is not
due, or it is the record of another incident) they raise ``NotVerified`` instead of passing. Every
result names its evidence's provenance. COM-STATUS-PAGE is a gate: it asks the public status page
(Statuspage API v2) itself.
"""

from __future__ import annotations

import email.utils
import functools
import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..clients import http as http_client
from ..incident_record import SAME_INCIDENT_TOLERANCE, IncidentRecord, other_incident
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..timeparse import isoformat, parse_instant, utcnow

if TYPE_CHECKING:
    import httpx

NOT_VERIFIED = "not verified:"  # every "could not be judged from the evidence" reason starts with this
INCIDENT_CHANNEL = "#incidents"  # the plan: "Incident declared: Slack #incidents + PagerDuty"
RESOLUTION_AUDIENCE = "all-hands"  # the plan: "Resolution: Email to all-hands"
RESOLVED_STATUSES = {"resolved", "postmortem", "completed"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}  # Statuspage v2 status.indicator


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
    return Evidence(title, f"incident record {record.path} (incident {record.incident_id})",
                    f"{answer}\n(evidence from: {record.provenance})")


def _from_record(check):
    """Every COM evidence result says where its evidence came from (the record's provenance)."""
    @functools.wraps(check)
    def judged(record: IncidentRecord, *args, **kwargs) -> CheckResult:
        result = check(record, *args, **kwargs)
        result.provenance = record.provenance
        return result

    return judged


def about_this_incident(record: IncidentRecord, incident_start: datetime | None) -> IncidentRecord:
    """``record`` if it describes the incident the run is about; else NotVerified, with the reason."""
    reason = other_incident(record, incident_start)
    if reason:
        raise NotVerified(reason)
    return record


@_from_record
def incident_declared(record: IncidentRecord, *, channel: str = INCIDENT_CHANNEL) -> CheckResult:
    """COM-INCIDENT-DECLARED: declared in the incident channel and in the paging system, with times."""
    limit = f"declared in {channel} and paged, with timestamps"
    declared = record.declared
    if declared is None:
        return CheckResult(False, f"incident {record.incident_id} was never declared (declared is null); "
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
        return CheckResult(False, f"{'; '.join(problems)} (expected {limit})", measured=measured,
                           limit=limit, offenders=problems, evidence=evidence)
    return CheckResult(True, f"{shown}; {paged}", measured=measured, limit=limit, evidence=evidence)


@_from_record
def update_cadence(record: IncidentRecord, *, interval: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-UPDATES-30MIN: no gap longer than ``interval`` from declaration, through every update, to
    resolution (or to now while the incident is ongoing)."""
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
    if not count and not offenders and record.resolution is None:
        raise NotVerified(f"no status update posted yet for incident {record.incident_id}; the first is due "
                          f"{human(interval)} after the {begin_label} ({isoformat(begin + interval)})")
    if offenders:
        return CheckResult(False, f"largest gap between updates {human(largest)} ({where}), limit "
                           f"{human(interval)}; {len(offenders)} gap(s) too long", measured=largest, limit=interval,
                           offenders=offenders, evidence=evidence)
    span = f"{begin_label} to {end_label}"
    return CheckResult(True, f"{count} update(s) from {span}: largest gap {human(largest)}, "
                       f"limit {human(interval)}", measured=largest, limit=interval, evidence=evidence)


@_from_record
def customer_notice(record: IncidentRecord, *, within: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-CUSTOMER-15MIN: the customer email went out within ``within`` of the incident start."""
    now = now or utcnow()
    email = record.customer_email
    start = isoformat(record.started_at)
    if email is None:
        elapsed = now - record.started_at
        if elapsed <= within:
            raise NotVerified(f"customer email not due yet (due {human(within)} after the start {start}; "
                              f"{human(within - elapsed)} left)")
        return CheckResult(False, f"no customer email {human(elapsed)} after the incident start ({start}), "
                           f"limit {human(within)}", measured=None, limit=within,
                           evidence=[_record_evidence(record, "customer email", "customer_email: null")])
    delay = email.sent_at - record.started_at
    evidence = [_record_evidence(record, "customer email",
                                 f"incident start {start}\nsent {isoformat(email.sent_at)} to {email.audience}")]
    verdict = "" if delay <= within else " (too late)"
    return CheckResult(delay <= within, f"customer email sent {human(delay)} after the incident start{verdict}, "
                       f"limit {human(within)}", measured=delay, limit=within, evidence=evidence)


@_from_record
def resolution_email(record: IncidentRecord, *, audience: str = RESOLUTION_AUDIENCE) -> CheckResult:
    """COM-RESOLUTION-EMAIL: a resolution email went to all-hands."""
    resolution = record.resolution
    if resolution is None:
        raise NotVerified(f"incident {record.incident_id} not resolved yet (resolution is null in {record.path})")
    email = resolution.email
    resolved = isoformat(resolution.resolved_at)
    if email is None:
        return CheckResult(False, f"resolved at {resolved} but no resolution email was sent "
                           f"(expected one to {audience})", measured=None, limit=audience,
                           evidence=[_record_evidence(record, "resolution email", "resolution.email: null")])
    recipients = ", ".join(email.to)
    evidence = [_record_evidence(record, "resolution email",
                                 f"resolved {resolved}\nemail sent {isoformat(email.sent_at)} to {recipients}")]
    if audience not in email.to:
        return CheckResult(False, f"resolution email went to {recipients}, not {audience}", measured=recipients,
                           limit=audience, offenders=list(email.to), evidence=evidence)
    return CheckResult(True, f"resolution email sent {isoformat(email.sent_at)} to {recipients} "
                       f"(required: {audience})", measured=recipients, limit=audience, evidence=evidence)


@_from_record
def postmortem_published(record: IncidentRecord, *, within: timedelta, now: datetime | None = None) -> CheckResult:
    """COM-POSTMORTEM-48H: published within ``within`` of resolution (judged once due or published)."""
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
        return CheckResult(False, f"no post-mortem {human(elapsed)} after the resolution, limit {human(within)}",
                           measured=None, limit=within,
                           evidence=[_record_evidence(record, "post-mortem", "postmortem: null")])
    delay = postmortem.published_at - resolved
    evidence = [_record_evidence(record, "post-mortem", f"resolved {isoformat(resolved)}\n"
                                 f"published {isoformat(postmortem.published_at)} at {postmortem.url}")]
    verdict = "" if delay <= within else " (too late)"
    return CheckResult(delay <= within, f"post-mortem published {human(delay)} after the resolution{verdict}, "
                       f"limit {human(within)}", measured=delay, limit=within, evidence=evidence)


def _instant(value) -> datetime | None:
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _content_times(answer: httpx.Response, page_info: dict) -> list[tuple[str, datetime]]:
    """When the content served was produced, by every clock the answer states (Statuspage
    ``page.updated_at``; HTTP ``Age`` after ``Date``, RFC 9111; ``Last-Modified``)."""
    times = []
    updated = _instant(page_info.get("updated_at"))
    if updated is not None:
        times.append(("page.updated_at", updated))
    age = answer.headers.get("age", "").strip()
    if age.isdigit():
        served = _http_date(answer.headers.get("date")) or utcnow()
        times.append((f"a cached copy (Age {human(timedelta(seconds=int(age)))}) generated at",
                      served - timedelta(seconds=int(age))))
    modified = _http_date(answer.headers.get("last-modified"))
    if modified is not None:
        times.append(("Last-Modified", modified))
    return times


def _incident_time(incident: dict) -> datetime | None:
    return _instant(incident.get("started_at")) or _instant(incident.get("created_at"))


def _named(incident: dict) -> str:
    when = _incident_time(incident)
    return (f"{incident.get('name', incident.get('id', '?'))!r} ({incident.get('status', '?')}, "
            f"since {isoformat(when) if when else 'an unknown time'})")


STATUS_SUMMARY = "/api/v2/summary.json"  # the Statuspage API v2 summary


def status_summary(page: httpx.Client) -> httpx.Response | str:
    """The status page's summary as it answers (or why it did not): what COM-STATUS-PAGE judges."""
    return http_client.get(page, STATUS_SUMMARY, "status page")


def status_page(page: httpx.Client, incident_start: datetime | None, resolved_at: datetime | None, *,
                tolerance: timedelta = SAME_INCIDENT_TOLERANCE, answer: httpx.Response | str | None = None
                ) -> CheckResult:
    """COM-STATUS-PAGE: during an incident (a known start, no recorded resolution) the public page
    (Statuspage API v2 summary) must show *this* incident: an unresolved incident since the start
    (within ``tolerance``), a status indicator other than "none", and content produced after the
    start (not a cached copy from before it). Otherwise it must answer its current status. ``answer``:
    the summary already fetched (``status_summary``, with the run's reads), else it is asked now."""
    path = STATUS_SUMMARY
    asked = http_client.as_curl(page, path, flags="-sSi", quoted=False)
    if incident_start is not None and resolved_at is not None and resolved_at < incident_start:
        raise DRUnverifiable("status page", f"the recorded resolution {isoformat(resolved_at)} is before the "
                             f"incident start {isoformat(incident_start)}: the resolution is of another incident")
    during = incident_start is not None and resolved_at is None
    limit = ("an unresolved incident since the incident start, status indicator other than 'none', content "
             "produced after the start") if during else "a Statuspage v2 summary with its current status"
    provenance = f"status page {page.base_url} asked directly (GET {path})"
    if answer is None:
        answer = status_summary(page)
    if isinstance(answer, str):
        return CheckResult(False, f"status page {page.base_url} did not answer: {answer}", measured=answer,
                           limit=limit, evidence=[Evidence("status page summary", asked, answer)],
                           provenance=provenance)
    headers = "\n".join(f"{k}: {answer.headers[k]}" for k in ("date", "age", "last-modified", "cache-control")
                        if k in answer.headers)
    evidence = [Evidence("status page summary", asked, f"HTTP {answer.status_code}\n{headers}\n\n{trim(answer.text)}")]
    try:
        body = answer.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    body = body if isinstance(body, dict) else {}
    status = body.get("status") if isinstance(body.get("status"), dict) else {}
    page_info = body.get("page") if isinstance(body.get("page"), dict) else None
    incidents = body.get("incidents")
    indicator = status.get("indicator")
    missing = [what for what, bad in (("a status indicator (none/minor/major/critical)", indicator not in INDICATORS),
                                      ("the page object", page_info is None),
                                      ("the incidents list", not isinstance(incidents, list))) if bad]
    if answer.status_code != 200 or missing:
        return CheckResult(False, f"status page {path}: HTTP {answer.status_code}, not a Statuspage v2 summary "
                           f"(no {', no '.join(missing) or 'success'})", measured=answer.status_code, limit=limit,
                           evidence=evidence, provenance=provenance)
    provenance += f", served {answer.headers.get('date', 'without a Date header')}"
    description = status.get("description", "")
    unresolved = [i for i in incidents if isinstance(i, dict) and i.get("status") not in RESOLVED_STATUSES]
    shown = f"indicator {indicator!r} ({description}), {len(unresolved)} unresolved incident(s)"
    measured = {"indicator": indicator, "unresolved incidents": len(unresolved)}
    if not during:
        return CheckResult(True, f"status page answers: {shown}", measured=measured, limit=limit,
                           evidence=evidence, provenance=provenance)
    earliest = incident_start - tolerance
    problems = [f"{label} {isoformat(at)}, before the incident start: a copy older than the incident"
                for label, at in _content_times(answer, page_info) if at < earliest]
    this = [i for i in unresolved if (since := _incident_time(i)) is not None and since >= earliest]
    others = [i for i in unresolved if i not in this]
    if not this:
        problems.append("no unresolved incident since the incident start" +
                        (f" (only {', '.join(_named(i) for i in others)}: another incident)" if others else ""))
    if indicator == "none":
        problems.append(f"status indicator 'none' ({description or 'All Systems Operational'})")
    measured["this incident"] = [_named(i) for i in this]
    if problems:
        return CheckResult(False, f"status page does not show the incident that started "
                           f"{isoformat(incident_start)}: {'; '.join(problems)}", measured=measured, limit=limit,
                           offenders=problems, evidence=evidence, provenance=provenance)
    return CheckResult(True, f"status page shows the incident: {', '.join(_named(i) for i in this)}; {shown}",
                       measured=measured, limit=limit, evidence=evidence, provenance=provenance)
