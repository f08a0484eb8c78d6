"""The AWS clients load botocore's service models as plain dicts (the same models, half the parse) and check a
service's presence in its own folder (the same answers, without listing every service's folders)."""

from collections import OrderedDict
from datetime import timedelta

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from pytest_kosmos_dr.clients.aws import AwsClients
from pytest_kosmos_dr.target import Timeouts


def _clients() -> AwsClients:
    span = timedelta(seconds=5)
    return AwsClients(None, "eu-west-1", Timeouts(connect=span, read=span), "http://127.0.0.1:9",
                      {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "example"})


def test_service_models_are_botocores_own_as_plain_dicts():
    loader = _clients()._shared_session().get_component("data_loader")
    stock = botocore.session.get_session().get_component("data_loader")
    for service in ("rds", "s3", "route53"):
        ours, theirs = loader.load_service_model(service, "service-2"), stock.load_service_model(service, "service-2")
        assert type(ours) is dict and type(theirs) is OrderedDict
        assert ours == theirs and list(ours["operations"]) == list(theirs["operations"])


@pytest.mark.parametrize("type_name", ["service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"])
def test_known_services_answer_as_botocores_listing(type_name):
    loader = _clients()._shared_session().get_component("data_loader")
    listed = botocore.session.get_session().get_component("data_loader").list_available_services(type_name)
    known = loader.list_available_services(type_name)
    assert listed and all(name in known for name in listed)
    assert "no-such-service" not in known and "" not in known and "../rds" not in known and None not in known
    others = set(botocore.session.get_session().get_available_services()) - set(listed)
    assert not any(name in known for name in others)  # a service without a model of this type is not known
    assert list(known) == listed and len(known) == len(listed)  # iterating lists every service, as botocore


def test_an_unknown_service_is_still_refused_by_name():
    with pytest.raises(UnknownServiceError) as refused:
        _clients()._shared_session().get_component("data_loader").load_service_model("rdss", "service-2")
    assert "Unknown service: 'rdss'" in str(refused.value) and "rds," in str(refused.value)


def test_a_client_made_from_plain_models_builds_requests_as_before():
    client = _clients().client("rds")
    model = client.meta.service_model.operation_model("DescribeDBInstances")
    assert model.http["method"] == "POST" and "DBInstanceIdentifier" in model.input_shape.members
    assert client.can_paginate("describe_db_snapshots")


def test_a_client_is_made_again_when_pytest_changed_the_environment_meanwhile(monkeypatch):
    """botocore copies os.environ item by item while pytest sets/deletes PYTEST_CURRENT_TEST in the main
    thread: the KeyError for that name means "read the environment again", not a broken check."""
    clients = _clients()
    session = clients._shared_session()
    made, real = [], session.create_client

    def racing(*args, **kwargs):
        made.append(args[0])
        if len(made) == 1:
            raise KeyError("PYTEST_CURRENT_TEST")
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "create_client", racing)
    assert clients.client("s3").meta.service_model.service_name == "s3"
    assert made == ["s3", "s3"]


def test_any_other_key_error_is_not_retried(monkeypatch):
    import pytest

    clients = _clients()
    session = clients._shared_session()
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise KeyError("signatureVersion")

    monkeypatch.setattr(session, "create_client", broken)
    with pytest.raises(KeyError, match="signatureVersion"):
        clients.client("s3")
    assert len(calls) == 1


def test_the_sandbox_reads_each_services_regions_once_with_botocores_answers():
    """moto asks new sessions for a service's regions (EC2's twice per sandbox start); the sandbox answers
    from the first reading, which is botocore's own."""
    pytest.importorskip("moto")
    from pytest_kosmos_dr.sandbox.aws.moto_server import _regions_read_once

    asked = [("ec2", "aws"), ("rds", "aws"), ("route53", "aws"), ("rds", "aws-cn"), ("no-such-service", "aws")]
    stock = {key: botocore.session.get_session().get_available_regions(*key) for key in asked}
    _regions_read_once()
    _regions_read_once()  # wrapped once, not twice
    assert botocore.session.Session.get_available_regions._read_once
    for key in asked:
        assert botocore.session.get_session().get_available_regions(*key) == stock[key]
        assert botocore.session.get_session().get_available_regions(*key) == stock[key]  # the kept answer
    assert "us-east-1" in stock[("ec2", "aws")] and "cn-north-1" in stock[("rds", "aws-cn")]
    answer = botocore.session.get_session().get_available_regions("ec2")
    answer.append("mars-north-1")  # a caller's change never reaches the next caller
    assert "mars-north-1" not in botocore.session.get_session().get_available_regions("ec2")


def test_moto_reads_the_same_models_through_the_lighter_loader():
    pytest.importorskip("moto")
    from moto.core import utils as moto_utils

    from pytest_kosmos_dr.sandbox.aws.moto_server import _models_read_lighter

    stock = moto_utils.create_loader()
    _models_read_lighter()
    _models_read_lighter()  # wrapped once, not twice
    lighter = moto_utils.create_loader()
    assert moto_utils.create_loader._lighter and type(lighter) is type(stock)
    for service, type_name in (("rds", "service-2"), ("s3", "service-2"), ("route53", "paginators-1")):
        ours, theirs = lighter.load_service_model(service, type_name), stock.load_service_model(service, type_name)
        assert ours == theirs and type(ours) is dict
    with pytest.raises(UnknownServiceError):
        lighter.load_service_model("rdss", "service-2")


def test_moto_writes_request_ids_where_an_answer_has_the_element():
    pytest.importorskip("moto")
    from moto.core.responses import BaseResponse

    from pytest_kosmos_dr.sandbox.aws.moto_server import _request_ids_written_where_present

    _request_ids_written_where_present()
    _request_ids_written_where_present()  # wrapped once, not twice
    headers = {"status": 200}
    _, body = BaseResponse._enrich_response(headers, "<R><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></R>")
    assert body == f"<R><ResponseMetadata><RequestId>{headers['x-amzn-requestid']}</RequestId></ResponseMetadata></R>"
    assert headers["status"] == "200" and len(headers["x-amzn-requestid"]) == 52
    page = "<ListVersionsResult>" + "<Version><Key>k</Key></Version>" * 3 + "</ListVersionsResult>"
    headers = {"status": 200}
    assert BaseResponse._enrich_response(headers, page) == (headers, page), "no element: the body as it was"
    assert headers["status"] == "200" and len(headers["x-amzn-requestid"]) == 52, "the header is still given"
    assert BaseResponse._enrich_response({}, b"<RequestId>x</RequestId>")[1] == b"<RequestId>x</RequestId>"


def test_moto_lists_its_services_once_with_the_same_answer():
    pytest.importorskip("moto")
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from pytest_kosmos_dr.sandbox.aws.moto_server import _services_listed_once

    stock = list(backends.list_of_moto_modules())
    _services_listed_once()
    _services_listed_once()  # wrapped once, not twice
    assert backends.list_of_moto_modules._once
    assert list(backends.list_of_moto_modules()) == stock and "rds" in stock and "route53" in stock
    assert backends.list_of_moto_modules() is backends.list_of_moto_modules()  # read once, kept
    dispatcher = DomainDispatcherApplication(create_backend_app)
    assert dispatcher.get_backend_for_host("rds") == "rds"  # a service name is still told from a host
    assert dispatcher.get_backend_for_host("route53.amazonaws.com") == "route53"
