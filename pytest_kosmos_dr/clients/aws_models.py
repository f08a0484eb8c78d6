"""botocore's service models, read for less CPU: plain dicts instead of ``OrderedDict``s, and a service's
presence checked in its own folder instead of listing every service's folders (``tune_loader``).

Both change how the same files are read, never what is read: every client sees botocore's own models.
Left as botocore has them if its loader ever changes shape."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence


def tune_loader(loader) -> None:
    """Both changes on one botocore ``Loader`` (a session's ``data_loader`` component)."""
    _load_models_as_plain_dicts(loader)
    _check_services_on_demand(loader)


def _load_models_as_plain_dicts(loader) -> None:
    """botocore parses its service models (JSON, a few MB per run) into ``OrderedDict``s, which doubles the
    parse's CPU (~0.3 s per gate run, measured); a ``dict`` keeps the same order and nothing in botocore
    or boto3 needs the subclass."""
    from botocore import loaders

    base = getattr(loaders, "JSONFileLoader", None)
    if base is None or not hasattr(base, "_load_file") or type(loader.file_loader) is not base:
        return

    class PlainJSONFileLoader(base):
        def _load_file(self, full_path, open_method):
            if not os.path.isfile(full_path):
                return None
            with open_method(full_path, "rb") as fp:
                return json.loads(fp.read().decode("utf-8"))

    loader.file_loader = PlainJSONFileLoader()


class KnownServices(Sequence):
    """What ``Loader.list_available_services(type_name)`` answers, as botocore uses it (``name in known``
    before it loads a model): membership is looked up in that service's folder alone; iterating (an
    unknown service's error message) lists every service as botocore does."""

    def __init__(self, loader, type_name: str, list_all) -> None:
        self._loader, self._type_name, self._list_all = loader, type_name, list_all
        self._every: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        for location in self._loader._potential_locations(name, must_exist=True, is_dir=True):
            for version in os.listdir(location):
                if self._loader.file_loader.exists(os.path.join(location, version, self._type_name)):
                    return True
        return False

    def _all(self) -> list[str]:
        if self._every is None:
            self._every = self._list_all(self._type_name)
        return self._every

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


def _check_services_on_demand(loader) -> None:
    """botocore checks that a service exists before loading its model by listing every service folder that
    holds a model of that type: ~400 folders, once per model type (8 per gate run, ~0.15 s of CPU,
    measured, while the run's clients wait for each other)."""
    listing = getattr(type(loader), "list_available_services", None)
    if listing is None or not hasattr(loader, "_potential_locations") or not hasattr(loader.file_loader, "exists"):
        return
    list_all = listing.__get__(loader)
    loader.list_available_services = lambda type_name: KnownServices(loader, type_name, list_all)
