"""Verify agent routing: a request for an agent reaches that agent's own pod, now.

    python scripts/test_agent_routing.py --agent zeus-orchestrator

Asks the agent gateway to route a probe carrying a fresh nonce to the agent; the answer must come
from the agent asked for (its StatefulSet pod ``<agent>-<n>``), echo the nonce (not a cached answer),
and, when KOSMOS_DR_NAMESPACE / KOSMOS_DR_REGION are set, come from that namespace and region.
Exit 0: routed; 1: misrouted or wrong answer; 2: usage; 3: the API could not be reached;
77: cannot verify (the API rejected the credentials).
"""

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

TIMEOUT_S = 10
CANNOT_VERIFY = 77  # automake's "cannot test": the caller reports could not verify, not failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True, help="the agent to route to, e.g. zeus-orchestrator")
    args = parser.parse_args(argv)
    url = os.environ.get("KOSMOS_API_URL", "").rstrip("/")
    if not url:
        print("FAIL: KOSMOS_API_URL is not set", file=sys.stderr)
        return 2
    token = os.environ.get(os.environ.get("KOSMOS_API_TOKEN_ENV") or "KOSMOS_API_TOKEN")
    nonce = uuid.uuid4().hex
    path = f"/v1/agents/{urllib.parse.quote(args.agent)}/probe?nonce={nonce}"
    request = urllib.request.Request(url + path, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            status, text = answer.status, answer.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as error:
        print(f"FAIL: GET {path}: the KOSMOS API did not answer: {getattr(error, 'reason', error)}", file=sys.stderr)
        return 3
    print(f"GET {url}{path}: HTTP {status}")
    if status in (401, 403):
        print(f"CANNOT VERIFY: request for {args.agent}: HTTP {status}: the API rejected the credentials "
              "(check the token environment variable)")
        return CANNOT_VERIFY
    if status != 200:
        print(f"FAIL: request for {args.agent}: HTTP {status}: {text[:200]}")
        return 1
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        print(f"FAIL: request for {args.agent}: not a JSON object: {text[:200]!r}")
        return 1
    problems = []
    if body.get("agent") != args.agent:
        problems.append(f"answered by agent {body.get('agent')!r}, not {args.agent!r}")
    pod = body.get("pod")
    if not (isinstance(pod, str) and re.fullmatch(re.escape(args.agent) + r"-\d+", pod)):
        problems.append(f"answered by pod {pod!r}, not one of {args.agent}'s pods ({args.agent}-<n>)")
    for field, variable in (("namespace", "KOSMOS_DR_NAMESPACE"), ("region", "KOSMOS_DR_REGION")):
        expected = os.environ.get(variable)
        if expected and body.get(field) != expected:
            problems.append(f"{field} {body.get(field)!r}, expected {expected!r}")
    if body.get("nonce") != nonce:
        problems.append(f"nonce {body.get('nonce')!r} is not ours ({nonce}): a cached or replayed answer")
    if problems:
        print(f"FAIL: request for {args.agent}: " + "; ".join(problems))
        return 1
    where = ", ".join(f"{k} {body[k]}" for k in ("namespace", "region") if body.get(k))
    print(f"OK: request for {args.agent} answered by its pod {pod}" + (f" ({where})" if where else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
