"""YAML documents read with PyYAML's safe constructors, parsed by libyaml when PyYAML was built with it.

``yaml.safe_load`` parses in pure Python: 47 ms of CPU for one rendered overlay (ten objects, every gate
run; ~0.24 s of interpreter-lock time under the run's contention), where libyaml's parser takes 5 ms.
The constructors, and so the objects made, are the safe ones either way; without libyaml this is
``yaml.safe_load`` itself."""

from __future__ import annotations

from typing import Any, Iterator

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str | bytes) -> Any:
    """The single document of ``text`` (``yaml.safe_load``)."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def load_all(text: str | bytes) -> Iterator[Any]:
    """Every document of ``text``, in order (``yaml.safe_load_all``)."""
    return yaml.load_all(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
