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


def test_the_first_aws_clients_take_the_warmed_session_and_its_read_models():
    code = ("import sys\nfrom datetime import timedelta\n"
            "from pytest_kosmos_dr.clients import aws\n"
            "from pytest_kosmos_dr.clients.preload import preload_in_background\n"
            "from pytest_kosmos_dr.target import Timeouts\n"
            "preload_in_background().join(60)\n"
            "warmed = aws._warmed[0]\n"
            "loader = warmed.get_component('data_loader')\n"
            "cached = {k[1] for k in loader._cache if k[0] == 'load_service_model'}\n"
            "def clients():\n"
            "    span = timedelta(seconds=5)\n"
            "    return aws.AwsClients(None, 'eu-west-1', Timeouts(connect=span, read=span), 'http://127.0.0.1:9',\n"
            "                          {'aws_access_key_id': 'AKIDEXAMPLE', 'aws_secret_access_key': 'example'})\n"
            "first, second = clients(), clients()\n"
            "print(first._shared_session() is warmed, second._shared_session() is warmed,\n"
            "      all(s in cached for s in aws.WARMED_SERVICES), first.client('s3').meta.endpoint_url,\n"
            "      type(first._shared_session().get_component('response_parser_factory')).__name__,\n"
            "      'boto3' in sys.modules)")
    assert fresh_python(code) == ["True False True http://127.0.0.1:9 _Factory False"]  # boto3 never loaded


def test_a_session_that_cannot_be_warmed_leaves_the_clients_to_make_their_own(monkeypatch):
    from pytest_kosmos_dr.clients import aws

    def refuse(*args, **kwargs):
        raise RuntimeError("no models here")

    monkeypatch.setattr(aws, "tuned_core_session", refuse)
    monkeypatch.setattr(aws, "_warmed", [])
    preload.preload_in_background().join(60)  # no exception escapes the thread
    assert aws._warmed == []
