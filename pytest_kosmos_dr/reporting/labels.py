"""Allure labels from the DR plan: epic, feature (plan section), story, severity, link, tags."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..catalog import Criterion

EPIC = "KOSMOS Disaster Recovery Plan"
DEFAULT_LINK_PATTERN = (
    "https://github.com/Nuvanta-Holding/kosmos-docs/blob/main/disaster-recovery-plan.md#{section_anchor}"
)
LINK_PATTERN_INI = "dr_plan_link_pattern"


def feature_name(section: str) -> str:
    """The Allure feature of a plan section, numbered in the plan's order ("1. Recovery Objectives"), so
    that Behaviors lists the sections as the plan does, not alphabetically."""
    from ..catalog import catalog

    order = list(dict.fromkeys(c.section for c in catalog().values()))
    return f"{order.index(section) + 1}. {section}" if section in order else section


def section_anchor(section: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", section.strip().lower())
    return text.replace(" ", "-")


def severity(criteria: list[Criterion]) -> str:
    """blocker for a recovery objective (OBJ-*), critical for gate checks, normal otherwise."""
    if any(c.prefix == "OBJ" for c in criteria):
        return "blocker"
    if any(c.kind == "gate" for c in criteria):
        return "critical"
    return "normal"


@dataclass(frozen=True)
class PlanLabels:
    features: list[str]
    stories: list[str]
    severity: str
    links: list[tuple[str, str]]  # (url, name)
    tags: list[str]


def plan_labels(criteria: list[Criterion], target_name: str, link_pattern: str = DEFAULT_LINK_PATTERN) -> PlanLabels:
    features: list[str] = []
    links: list[tuple[str, str]] = []
    for c in criteria:
        if feature_name(c.section) not in features:
            features.append(feature_name(c.section))
            url = link_pattern.format(section_anchor=section_anchor(c.section), section=c.section,
                                      criterion=c.id)
            links.append((url, f"DR plan: {c.section}"))
    kinds = list(dict.fromkeys(c.kind for c in criteria))
    return PlanLabels(
        features=features,
        stories=[f"{c.id}: {c.title}" for c in criteria],
        severity=severity(criteria),
        links=links,
        tags=[*kinds, f"target:{target_name}"],
    )


def apply(labels: PlanLabels, skip_tags: set[str] = frozenset()) -> None:
    """Put ``labels`` on the running Allure test (call during setup; no-op without --alluredir)."""
    import allure

    allure.dynamic.epic(EPIC)
    allure.dynamic.feature(*labels.features)
    allure.dynamic.story(*labels.stories)
    allure.dynamic.severity(allure.severity_level(labels.severity))
    tags = [t for t in labels.tags if t not in skip_tags]
    if tags:
        allure.dynamic.tag(*tags)
    for url, name in labels.links:
        allure.dynamic.link(url, name=name)
