"""The catalog of DR acceptance criteria (package data ``data/criteria.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

KINDS = ("gate", "drill", "evidence")
# Gate criteria come in two roles. *Recovery*: KOSMOS runs again in the DR region (OBJ-RTO waits
# on these). *Preparedness*: the estate was set up right before the disaster; one whose fact lives
# only in a lost region is "not verifiable while <region> is down" and blocks neither OBJ-RTO nor
# the verdict.
ROLES = ("recovery", "preparedness")


@dataclass(frozen=True)
class Criterion:
    id: str
    kind: str
    section: str  # the plan section's title, e.g. "Recovery Validation"
    title: str
    text: str
    role: str = ""  # gate criteria: "recovery" or "preparedness"
    dr_source: str = ""  # where the DR region holds the same fact (read there when the primary is lost)

    @property
    def prefix(self) -> str:
        return self.id.split("-", 1)[0]


@lru_cache(maxsize=1)
def catalog() -> dict[str, Criterion]:
    """Every criterion by ID, in plan order."""
    raw = tomllib.loads(resources.files(__package__).joinpath("data/criteria.toml").read_text())
    sections = raw["sections"]
    return {
        cid: Criterion(cid, body["kind"], sections[cid.split("-", 1)[0]], body["title"], body["text"],
                       body.get("role", ""), body.get("dr_source", ""))
        for cid, body in raw["criteria"].items()
    }


def recovery_gate() -> list[str]:
    """The gate criteria that say whether KOSMOS runs again in the DR region (OBJ-RTO waits on them)."""
    return [cid for cid, c in catalog().items() if c.kind == "gate" and c.role == "recovery"]


def criterion(cid: str) -> Criterion:
    try:
        return catalog()[cid]
    except KeyError:
        raise KeyError(f"unknown DR criterion {cid!r}; see `kosmos-dr criteria`") from None
