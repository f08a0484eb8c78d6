"""The catalog of DR acceptance criteria (package data ``data/criteria.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

KINDS = ("gate", "drill", "evidence")


@dataclass(frozen=True)
class Criterion:
    id: str
    kind: str
    section: str  # the plan section's title, e.g. "Recovery Validation"
    title: str
    text: str

    @property
    def prefix(self) -> str:
        return self.id.split("-", 1)[0]


@lru_cache(maxsize=1)
def catalog() -> dict[str, Criterion]:
    """Every criterion by ID, in plan order."""
    raw = tomllib.loads(resources.files(__package__).joinpath("data/criteria.toml").read_text())
    sections = raw["sections"]
    return {
        cid: Criterion(cid, body["kind"], sections[cid.split("-", 1)[0]], body["title"], body["text"])
        for cid, body in raw["criteria"].items()
    }


def criterion(cid: str) -> Criterion:
    try:
        return catalog()[cid]
    except KeyError:
        raise KeyError(f"unknown DR criterion {cid!r}; see `kosmos-dr criteria`") from None
