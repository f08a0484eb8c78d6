"""The KOSMOS API client the smoke tests share: KOSMOS_API_URL and the bearer token."""

import json
import os
import urllib.error
import urllib.request

import pytest

TIMEOUT_S = 10
CANNOT_VERIFY = 77  # automake's "cannot test"


class Api:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def get(self, path: str) -> tuple[int, object, str]:
        """(HTTP status, JSON body or None, raw text) of ``GET path``."""
        request = urllib.request.Request(self.url + path, headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            pytest.fail(f"GET {path}: the KOSMOS API did not answer: {getattr(error, 'reason', error)}")
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        return status, body, text

    def items(self, path: str) -> list:
        """The ``items`` of a list endpoint; fails on anything but HTTP 200 with an ``items`` list."""
        status, body, text = self.get(path)
        if status in (401, 403):  # not a smoke-test failure: we could not look (exit 77, "cannot test")
            pytest.exit(f"CANNOT VERIFY: GET {path}: HTTP {status}: the API rejected the credentials "
                        "(check the token environment variable)", returncode=CANNOT_VERIFY)
        assert status == 200, f"GET {path}: HTTP {status}: {text[:200]}"
        assert isinstance(body, dict) and isinstance(body.get("items"), list), \
            f"GET {path}: not a JSON object with an 'items' list: {text[:200]!r}"
        return body["items"]


@pytest.fixture(scope="session")
def api() -> Api:
    url = os.environ.get("KOSMOS_API_URL")
    if not url:
        pytest.exit("KOSMOS_API_URL is not set: the smoke tests need the KOSMOS API's URL", returncode=4)
    token = os.environ.get(os.environ.get("KOSMOS_API_TOKEN_ENV") or "KOSMOS_API_TOKEN")
    return Api(url, token)
