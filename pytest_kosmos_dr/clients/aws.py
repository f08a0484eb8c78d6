"""boto3 clients per service and region: the target's profile (or the standard credential chain),
adaptive retries, bounded connect/read timeouts. boto3 is imported only when first needed."""

from __future__ import annotations

from functools import lru_cache

from ..errors import DRUnverifiable
from ..target import Timeouts


class AwsClients:
    """``aws.client("rds", region)``: one cached client per (service, region)."""

    def __init__(self, profile: str, default_region: str, timeouts: Timeouts,
                 endpoint_url: str | None = None, credentials: dict[str, str] | None = None) -> None:
        self.profile = profile
        self.default_region = default_region
        self.timeouts = timeouts
        self.endpoint_url = endpoint_url
        self.credentials = credentials or {}
        self.client = lru_cache(maxsize=None)(self._make_client)

    def _make_client(self, service: str, region: str | None = None):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ProfileNotFound

        try:
            session = boto3.session.Session(profile_name=self.profile or None)
        except ProfileNotFound:
            raise DRUnverifiable("AWS", f"profile {self.profile!r} not found",
                                 "check aws.profile in the target or ~/.aws/config") from None
        config = Config(
            connect_timeout=self.timeouts.connect.total_seconds(),
            read_timeout=self.timeouts.read.total_seconds(),
            retries={"mode": "adaptive", "max_attempts": 4},
        )
        try:
            return session.client(service, region_name=region or self.default_region, endpoint_url=self.endpoint_url,
                                  config=config, **self.credentials)
        except BotoCoreError as exc:
            raise DRUnverifiable(f"AWS {service}", str(exc).splitlines()[0]) from None


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
    """Run one AWS call; any error is "could not verify" with one clear line."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # botocore raises many unrelated classes
        _, reason = describe_error(exc)
        raise DRUnverifiable(what, reason) from None


def fetch_object(s3, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key (access errors are "could not verify")."""
    from botocore.exceptions import ClientError

    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"s3://{bucket}/{key}", reason) from None
    except Exception as exc:
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"s3://{bucket}/{key}", reason) from None
