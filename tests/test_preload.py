"""While a run waits for its sandbox, the clients' libraries load in a background thread."""

import sys

import pytest
from conftest import fresh_python

from pytest_kosmos_dr.clients import preload


def test_the_clients_libraries_are_loaded_by_the_background_thread():
    code = ("import sys\nfrom pytest_kosmos_dr.clients.preload import LIBRARIES, preload_in_background\n"
            "assert not [n for n in LIBRARIES if n in sys.modules]\n"
            "thread = preload_in_background()\nassert thread.daemon\nthread.join(60)\n"
            "print(sorted(n for n in LIBRARIES if n not in sys.modules))")
    assert fresh_python(code) == ["[]"]


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_library_that_cannot_be_imported_is_left_to_its_first_use(monkeypatch):
    monkeypatch.setattr(preload, "LIBRARIES", ("no_such_library_for_kosmos_dr", "json"))
    preload.preload_in_background().join(30)  # no exception escapes the thread; json still loads
    assert "json" in sys.modules and "no_such_library_for_kosmos_dr" not in sys.modules
