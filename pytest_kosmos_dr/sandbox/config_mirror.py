"""The configuration backup copy: the config repository as a Git bundle in the backup bucket,
as a mirror job would upload it (``git bundle create --all`` + ``aws s3 cp``). The repository is the one
the kube component published for the sandbox layout (its namespace, its overlay's kinds).

Its faults change the repository's production branch or the uploaded copy: a commit the mirror
missed, a bundle cut short by a failed upload, an incremental bundle that cannot be restored on
its own, and an overlay emptied on production (mirrored, so only the cluster checks see it)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from .component import Fault, SandboxContext

BUNDLE_KEY = "config/kosmos-infrastructure.bundle"
OVERLAY_KUSTOMIZATION = "overlays/production/kustomization.yaml"


def empty_overlay(namespace: str) -> str:
    """``overlays/production/kustomization.yaml`` once its resources moved elsewhere (renders 0 objects)."""
    return ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {namespace}\nresources: []\n")


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

    def _put(self, body: bytes) -> None:
        self._s3().put_object(Bucket=self.ctx.state["aws"]["s3"]["agent_state_bucket"], Key=BUNDLE_KEY, Body=body)

    def faults(self) -> list[Fault]:
        async def stale():
            # The mirror job stopped: production moved on after the last upload.
            await asyncio.to_thread(self._commit_on_production)

        async def fresh():
            await asyncio.to_thread(self._drop_last_commit)

        async def truncate():
            # The upload was cut off: the header (and its head) is intact, the pack is not.
            await asyncio.to_thread(self._upload, "--all")
            data = self.bundle.read_bytes()
            header_end = data.index(b"\n\n") + 2
            await asyncio.to_thread(self._put, data[:header_end + (len(data) - header_end) // 2])

        async def whole():
            await asyncio.to_thread(self._upload, "--all")

        def _incremental() -> None:
            self._commit_on_production("Rotate the agent runtime's log level")
            self._upload("production", "^production~1")

        def _full_again() -> None:
            self._drop_last_commit()
            self._upload("--all")

        async def incremental():
            await asyncio.to_thread(_incremental)

        async def full_again():
            await asyncio.to_thread(_full_again)

        def _empty() -> None:
            (self.repo / OVERLAY_KUSTOMIZATION).write_text(empty_overlay(self.ctx.layout.namespace))
            self._git("commit", "--quiet", "-a", "-m", "overlays/production: move resources to the platform repo")
            self._upload("--all")

        async def empty():
            await asyncio.to_thread(_empty)

        return [
            Fault("config-mirror-stale", ("BAK-CONFIG-MIRROR",),
                  "a commit landed on production after the bucket's copy was made", stale, fresh),
            Fault("config-mirror-truncated", ("BAK-CONFIG-MIRROR",),
                  "the bucket's bundle was cut off mid-upload: it names the production head but its pack is "
                  "incomplete", truncate, whole),
            Fault("config-mirror-incremental", ("BAK-CONFIG-MIRROR",),
                  "the mirror job uploads only the newest commit (an incremental bundle): the head matches, "
                  "but it cannot be restored without the history it builds on", incremental, full_again),
            Fault("config-overlay-emptied", ("BAK-CONFIG-GITOPS", "REC-CONFIG-APPLY"),
                  "overlays/production on production renders 0 objects (resources moved elsewhere); the cluster "
                  "still runs the old objects and the dry run of nothing succeeds", empty, full_again),
        ]

    def _git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.repo), "-c", "user.name=KOSMOS Platform",
                        "-c", "user.email=platform@kosmos.internal", *args],
                       check=True, capture_output=True, timeout=GIT_TIMEOUT_S)

    def _commit_on_production(self, message: str = "Raise zeus-orchestrator memory limit (not mirrored)") -> None:
        self._git("commit", "--quiet", "--allow-empty", "-m", message)

    def _drop_last_commit(self) -> None:
        self._git("reset", "--quiet", "--hard", "HEAD~1")
