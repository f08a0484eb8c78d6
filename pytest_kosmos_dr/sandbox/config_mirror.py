"""The configuration backup copy: the config repository as a Git bundle in the backup bucket,
as a mirror job would upload it (``git bundle create --all`` + ``aws s3 cp``)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from .component import Fault, SandboxContext

BUNDLE_KEY = "config/kosmos-infrastructure.bundle"
GIT_TIMEOUT_S = 20


class ConfigMirrorComponent:
    """Needs the ``aws`` and ``kubernetes`` components' state (bucket, endpoint, config repo)."""

    name = "config_mirror"

    async def start(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.repo = Path(ctx.state["kubernetes"]["config_repo"])
        self.bundle = ctx.state_dir / "config-mirror.bundle"
        await asyncio.to_thread(self._upload, "--all")
        ctx.state[self.name] = {"bucket": ctx.state["aws"]["s3"]["agent_state_bucket"], "key": BUNDLE_KEY}

    async def stop(self) -> None:
        self.bundle.unlink(missing_ok=True)

    def _s3(self):
        import boto3

        aws = self.ctx.state["aws"]
        return boto3.client("s3", region_name=aws["secondary_region"], endpoint_url=aws["endpoint_url"],
                            aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])

    def _upload(self, *revisions: str) -> None:
        subprocess.run(["git", "-C", str(self.repo), "bundle", "create", "--quiet", str(self.bundle), *revisions],
                       check=True, capture_output=True, timeout=GIT_TIMEOUT_S)
        self._s3().put_object(Bucket=self.ctx.state["aws"]["s3"]["agent_state_bucket"], Key=BUNDLE_KEY,
                              Body=self.bundle.read_bytes())

    def faults(self) -> list[Fault]:
        async def stale():
            # The mirror job stopped: production moved on after the last upload.
            await asyncio.to_thread(self._commit_on_production)

        async def fresh():
            await asyncio.to_thread(self._drop_last_commit)

        return [Fault("config-mirror-stale", ("BAK-CONFIG-MIRROR",),
                      "a commit landed on production after the bucket's copy was made", stale, fresh)]

    def _git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.repo), "-c", "user.name=KOSMOS Platform",
                        "-c", "user.email=platform@kosmos.internal", *args],
                       check=True, capture_output=True, timeout=GIT_TIMEOUT_S)

    def _commit_on_production(self) -> None:
        self._git("commit", "--quiet", "--allow-empty", "-m", "Raise zeus-orchestrator memory limit (not mirrored)")

    def _drop_last_commit(self) -> None:
        self._git("reset", "--quiet", "--hard", "HEAD~1")
