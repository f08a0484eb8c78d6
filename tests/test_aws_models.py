"""The AWS clients load botocore's service models as plain dicts: the same models, half the parse."""

from collections import OrderedDict
from datetime import timedelta

import botocore.session

from pytest_kosmos_dr.clients.aws import AwsClients
from pytest_kosmos_dr.target import Timeouts


def _clients() -> AwsClients:
    span = timedelta(seconds=5)
    return AwsClients(None, "eu-west-1", Timeouts(connect=span, read=span), "http://127.0.0.1:9",
                      {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "example"})


def test_service_models_are_botocores_own_as_plain_dicts():
    loader = _clients()._shared_session()._session.get_component("data_loader")
    stock = botocore.session.get_session().get_component("data_loader")
    for service in ("rds", "s3", "route53"):
        ours, theirs = loader.load_service_model(service, "service-2"), stock.load_service_model(service, "service-2")
        assert type(ours) is dict and type(theirs) is OrderedDict
        assert ours == theirs and list(ours["operations"]) == list(theirs["operations"])


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
    made, real = [], session.client

    def racing(*args, **kwargs):
        made.append(args[0])
        if len(made) == 1:
            raise KeyError("PYTEST_CURRENT_TEST")
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "client", racing)
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

    monkeypatch.setattr(session, "client", broken)
    with pytest.raises(KeyError, match="signatureVersion"):
        clients.client("s3")
    assert len(calls) == 1
