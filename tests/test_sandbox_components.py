"""The sandbox daemon makes its later components when their turn comes (``LaterComponent``): their
modules load during the wait for the incident, never before the AWS side starts."""

import asyncio

import pytest
from conftest import fresh_python

from pytest_kosmos_dr.sandbox.component import LaterComponent


def test_only_the_aws_side_is_imported_when_the_components_are_built():
    code = ("import sys\nfrom pytest_kosmos_dr.sandbox.daemon import build_components\n"
            "parts = build_components()\nprint([p.name for p in parts])\n"
            "print(sorted(m for m in ('aiohttp', 'pytest_kosmos_dr.sandbox.kosmos_api', 'pytest_kosmos_dr.sandbox.grafana',"
            " 'pytest_kosmos_dr.sandbox.kube.component', 'pytest_kosmos_dr.sandbox.status_page') if m in sys.modules))")
    names, imported = fresh_python(code)
    assert names == "['aws', 'api', 'grafana', 'status_page', 'kubernetes', 'config_mirror']"
    assert imported == "[]"


class _Recorder:
    name = "recorder"
    calls: list = []

    async def start(self, ctx):
        self.calls.append(("start", ctx))

    async def stop(self):
        self.calls.append(("stop",))

    def faults(self):
        return ["a fault"]


def test_a_later_component_is_made_at_its_prepare_and_stopped_only_once_it_began():
    later = LaterComponent("recorder", "tests.test_sandbox_components", "_Recorder")
    asyncio.run(later.stop())  # never began: nothing to undo (and nothing made)
    asyncio.run(later.prepare("ctx"))  # made (the recorder has no prepare of its own): not begun yet
    made = later.made()
    assert type(made).__name__ == "_Recorder" and later.made() is made
    calls = type(made).calls = []
    asyncio.run(later.stop())
    assert calls == []
    asyncio.run(later.start("ctx"))
    asyncio.run(later.stop())
    assert calls == [("start", "ctx"), ("stop",)]
    assert later.faults() == ["a fault"] and hasattr(later, "faults") and not hasattr(later, "no_such_thing")


def test_a_later_component_of_another_name_is_refused():
    later = LaterComponent("grafana", "tests.test_sandbox_components", "_Recorder")
    for _ in range(2):  # every time: the wrong component is never kept
        with pytest.raises(RuntimeError, match="is component 'recorder', not 'grafana'"):
            later.made()
