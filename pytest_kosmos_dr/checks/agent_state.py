"""REC-AGENT-STATE: the newest state archive, put into the agent's pod, reads back identical."""

from __future__ import annotations

from ..results import CheckResult, Evidence


def state_restored(agent: str, pod: str, path: str, key: str, expected: dict[str, str],
                   found: dict[str, str], copy_command: str) -> CheckResult:
    """REC-AGENT-STATE: every file of the archive (name -> sha256) reads back identical from the pod."""
    expected, found = dict(expected or {}), dict(found or {})
    missing = sorted(set(expected) - set(found))
    differing = sorted(name for name in expected if name in found and found[name] != expected[name])
    offenders = [f"{pod}:{path}{name}: missing after copy" for name in missing]
    offenders += [f"{pod}:{path}{name}: sha256 {str(found[name])[:12]}..., archive {str(expected[name])[:12]}..." for name in differing]
    lines = [f"{digest}  {name}  {'ok' if found.get(name) == digest else 'MISMATCH'}" for name, digest in expected.items()]
    evidence = [Evidence("copy into the pod", copy_command, ""),
                Evidence("read back", f"kubectl exec {pod} -- sh -c 'cd {path} && find . -type f -exec sha256sum {{}} +'",
                         "\n".join(lines))]
    if not agent or not pod:
        return CheckResult(False, f"no agent or pod named (agent {agent!r}, pod {pod!r}): nothing was restored",
                           measured=0, limit=">= 1 file", evidence=evidence)
    if not expected:
        return CheckResult(False, f"{key} holds no state files for {agent}", measured=0, limit=">= 1 file",
                           evidence=evidence)
    if offenders:
        return CheckResult(False, f"state of {agent} from {key} did not read back identical: " + "; ".join(offenders),
                           measured=f"{len(expected) - len(offenders)}/{len(expected)} identical", limit="all identical",
                           offenders=offenders, evidence=evidence)
    return CheckResult(True, f"{len(expected)} state files of {agent} from {key} copied into {pod}:{path} and "
                       "read back identical (sha256)", measured=f"{len(expected)}/{len(expected)} identical",
                       limit="all identical", evidence=evidence)
