"""AWS clients per service and region: the target's profile (or the standard credential chain),
adaptive retries, bounded connect/read timeouts. They are botocore's clients, the ones boto3 hands out,
made from a botocore session directly: boto3's session adds resources and S3 transfer methods no check
uses, and importing it cost each run ~30 ms of CPU. botocore is imported only when first needed."""

from __future__ import annotations

import threading
from datetime import datetime

from ..errors import DRUnverifiable, RegionDown
from ..target import Timeouts

ROUTE53_CONTROL_PLANE = "us-east-1"  # Route53's API is served from us-east-1 (its DNS answers are global)


USER_AGENT = "pytest-kosmos-dr"  # after botocore's own, so an account's CloudTrail names the DR verification
POOL_CONNECTIONS = 40  # connections kept per endpoint: above the run's read pool (prefetch.WORKERS)
OUTAGE_CODES = ("ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
                "InternalServerError", "503", "502", "500", "504", "RequestTimeout")


def is_outage(exc: Exception) -> bool:
    """Whether an AWS error looks like the region is down (never rejected credentials)."""
    from botocore.exceptions import (ClientError, ConnectionClosedError, ConnectTimeoutError,
                                     EndpointConnectionError, ReadTimeoutError)

    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code", "") in OUTAGE_CODES or status >= 500
    return False


def region_down_or_raise(exc: Exception, region: str, what: str):
    """Raise RegionDown for an outage-shaped error of ``region``, else the usual "could not verify"."""
    _, reason = describe_error(exc)
    if is_outage(exc):
        raise RegionDown(region, what, reason) from None
    raise DRUnverifiable(what, reason) from None


class _LostRegionClient:
    """An AWS client of the primary region whose outage-shaped errors become ``RegionDown``: after a
    regional outage, what only that region knows is not verifiable, not broken. Paginators too."""

    def __init__(self, client, region: str) -> None:
        self._client, self._region = client, region

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if name == "get_paginator":
            return lambda *a, **k: _LostRegionPaginator(attr(*a, **k), self._region)
        if not callable(attr) or name.startswith("_") or name in ("can_paginate", "get_waiter"):
            return attr

        def guarded(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                if is_outage(exc):
                    _, reason = describe_error(exc)
                    raise RegionDown(self._region, f"AWS {name} in {self._region}", reason) from None
                raise
        return guarded


class _LostRegionPaginator:
    def __init__(self, paginator, region: str) -> None:
        self._paginator, self._region = paginator, region

    def paginate(self, *args, **kwargs):
        pages = self._paginator.paginate(*args, **kwargs)

        def guarded():
            try:
                yield from pages
            except Exception as exc:
                if is_outage(exc):
                    _, reason = describe_error(exc)
                    raise RegionDown(self._region, f"AWS {self._paginator._model.name} in {self._region}",
                                     reason) from None
                raise
        return guarded()


# A client's endpoint reads the proxy settings from os.environ (urllib's getproxies: every item, one by
# one); in a read-pool thread, pytest may set or delete PYTEST_CURRENT_TEST in the main thread meanwhile,
# and the copy raises KeyError for the name that went (seen once in CI). Made again then.
ENVIRON_RACE_RETRIES = 3


def _environ_race(exc: KeyError) -> bool:
    """The KeyError names an environment variable that changed while it was read (not a botocore bug)."""
    name = exc.args[0] if exc.args else None
    return isinstance(name, str) and name.startswith("PYTEST_")


class AwsClients:
    """``aws.client("rds", region)``: one cached client per (service, region), all made from one
    botocore session (its loaded service models, endpoint data and credentials are shared).

    Clients of ``primary_region`` (the region a disaster may have taken) raise ``RegionDown`` for
    outage-shaped errors; so do Route53's, whose control plane lives in us-east-1."""

    def __init__(self, profile: str, default_region: str, timeouts: Timeouts,
                 endpoint_url: str | None = None, credentials: dict[str, str] | None = None,
                 primary_region: str | None = None) -> None:
        self.primary_region = primary_region
        self.profile = profile
        self.default_region = default_region
        self.timeouts = timeouts
        self.endpoint_url = endpoint_url
        self.credentials = credentials or {}
        self._clients: dict[tuple[str, str], object] = {}
        self._session = None
        self._config = None
        self._lock = threading.Lock()

    def _shared_session(self):
        """The botocore session every client of this target is made from (the profile set on it, as
        ``boto3.Session(profile_name=...)`` does)."""
        from botocore.config import Config

        if self._session is None:
            core = _take_warmed() or tuned_core_session()
            if self.profile:
                core.set_config_variable("profile", self.profile)
            self._config = Config(
                connect_timeout=self.timeouts.connect.total_seconds(),
                read_timeout=self.timeouts.read.total_seconds(),
                retries={"mode": "adaptive", "max_attempts": 4},
                max_pool_connections=POOL_CONNECTIONS,
                user_agent_extra=USER_AGENT,
            )
            self._session = core
        return self._session

    def client(self, service: str, region: str | None = None):
        """The one client of ``service`` in ``region`` (the default region when None). The run's reads ask for
        their clients at once from many threads: each (service, region) is made once, by the first to ask,
        while the others wait for it (an unlocked cache made up to five RDS clients of one region per run)."""
        key = (service, region or self.default_region)
        made = self._clients.get(key)
        if made is None:
            with self._lock:  # a botocore session is not safe to create clients from concurrently either
                made = self._clients.get(key)
                if made is None:
                    made = self._clients[key] = self._make_client(service, key[1])
        return made

    def _make_client(self, service: str, region: str):
        """A new client (``client`` calls it under ``self._lock``)."""
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        session = self._shared_session()
        for attempt in range(ENVIRON_RACE_RETRIES + 1):
            try:
                client = session.create_client(service, region_name=region, endpoint_url=self.endpoint_url,
                                               config=self._config, **self.credentials)
                break
            except ProfileNotFound:
                raise DRUnverifiable("AWS", f"profile {self.profile!r} not found",
                                     "check aws.profile in the target or ~/.aws/config") from None
            except BotoCoreError as exc:
                raise DRUnverifiable(f"AWS {service}", str(exc).splitlines()[0]) from None
            except KeyError as exc:
                if attempt == ENVIRON_RACE_RETRIES or not _environ_race(exc):
                    raise
        lost = self.primary_region
        if lost and (client.meta.region_name == lost or (service == "route53" and lost == ROUTE53_CONTROL_PLANE)):
            return _LostRegionClient(client, lost)
        return client


def tuned_core_session():
    """A botocore session as ``AwsClients`` uses one: ISO 8601 times parsed natively (listings of thousands of
    objects, not dateutil), service models read lighter (aws_models), S3's XML answers parsed once (xml_responses)."""
    import botocore.session

    from .aws_models import tune_loader
    from .xml_responses import tune_xml_parsing

    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    tune_loader(core.get_component("data_loader"))
    tune_xml_parsing(core)
    return core


WARMED_SERVICES = ("rds", "s3", "route53", "cloudwatch")  # what the suites' checks ask AWS through
_warmed: list = []  # one session with those services' models read, for the first AwsClients to take
_warmed_lock = threading.Lock()


def warm_session() -> None:
    """Read what making the suites' clients reads (models, endpoint rules, partitions, retry rules) into a
    tuned session, for the first ``AwsClients`` of this process to take: called while a run waits for its
    sandbox (clients/preload.py). The clients made here are thrown away; they are given an unreachable
    endpoint and placeholder keys, so nothing is asked of any network or credential chain."""
    core = tuned_core_session()
    for service in WARMED_SERVICES:
        core.create_client(service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                           aws_access_key_id="warm-only", aws_secret_access_key="warm-only")
    with _warmed_lock:
        _warmed[:] = [core]


def _take_warmed():
    """The warmed session, once (a second ``AwsClients``, another target's, makes its own)."""
    with _warmed_lock:
        return _warmed.pop() if _warmed else None


def parse_timestamp(value):
    """botocore's timestamp parser, with a fast path for the ISO 8601 times AWS returns in XML and
    JSON (``2025-12-13T09:12:00.000Z``): the same aware datetimes, a fraction of the cost."""
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


def describe_error(exc: Exception) -> tuple[bool, str]:
    """(cannot_look, one-line reason) for a botocore error."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    if isinstance(exc, NoCredentialsError):
        return True, "no AWS credentials found (set a profile or the standard AWS variables)"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId",
                    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "403"):
            return True, f"{code}: {message}".rstrip(": ")
        return False, f"{code}: {message}".rstrip(": ")
    if isinstance(exc, (EndpointConnectionError, ReadTimeoutError)):
        return True, str(exc).splitlines()[0]
    return True, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def call(what: str, fn, *args, **kwargs):
    """Run one AWS call; any error is "could not verify" with one clear line (a lost region's
    outage stays ``RegionDown``)."""
    try:
        return fn(*args, **kwargs)
    except DRUnverifiable:
        raise
    except Exception as exc:  # botocore raises many unrelated classes
        _, reason = describe_error(exc)
        raise DRUnverifiable(what, reason) from None


def fetch_object(s3, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key (access errors are "could not verify")."""
    from botocore.exceptions import ClientError

    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except DRUnverifiable:
        raise
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"s3://{bucket}/{key}", reason) from None
    except Exception as exc:
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"s3://{bucket}/{key}", reason) from None
