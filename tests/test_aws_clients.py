"""The run's reads ask for their AWS clients at once, from many threads: each (service, region) is made once."""

import threading
from datetime import timedelta

from pytest_kosmos_dr.clients.aws import AwsClients
from pytest_kosmos_dr.target import Timeouts


def _clients() -> AwsClients:
    span = timedelta(seconds=5)
    return AwsClients(None, "us-west-2", Timeouts(connect=span, read=span), "http://127.0.0.1:9",
                      {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "example"})


def test_threads_asking_at_once_share_one_client_per_service_and_region(monkeypatch):
    aws = _clients()
    made = []
    real = aws._make_client

    def counted(service, region):
        made.append((service, region))
        return real(service, region)

    monkeypatch.setattr(aws, "_make_client", counted)
    start = threading.Barrier(12)
    got: list = [None] * 12

    def ask(i):
        start.wait()
        got[i] = aws.client("rds", None if i % 3 == 0 else ("us-west-2" if i % 3 == 1 else "us-east-1"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(made) == [("rds", "us-east-1"), ("rds", "us-west-2")]  # None is the default region's
    west = {id(c) for i, c in enumerate(got) if i % 3 != 2}
    east = {id(c) for i, c in enumerate(got) if i % 3 == 2}
    assert len(west) == 1 and len(east) == 1 and west != east
    assert got[0].meta.region_name == "us-west-2" and got[2].meta.region_name == "us-east-1"
    assert aws.client("rds") is got[0]  # and later askers get it too


def test_the_targets_profile_is_used_and_one_that_is_not_there_cannot_be_verified(tmp_path, monkeypatch):
    import pytest

    from pytest_kosmos_dr import DRUnverifiable
    from pytest_kosmos_dr.clients import aws as aws_clients

    config = tmp_path / "config"
    config.write_text("[profile dr-audit]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setattr(aws_clients, "_warmed", [])  # a session of this test's own
    span = timedelta(seconds=5)
    ok = AwsClients("dr-audit", "us-west-2", Timeouts(connect=span, read=span), "http://127.0.0.1:9",
                    {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "example"})
    client = ok.client("rds")
    assert ok._shared_session().get_config_variable("profile") == "dr-audit"
    assert client.meta.region_name == "us-west-2"
    assert client.meta.config.user_agent_extra == "pytest-kosmos-dr"
    missing = AwsClients("no-such-profile", "us-west-2", Timeouts(connect=span, read=span))
    with pytest.raises(DRUnverifiable, match="profile 'no-such-profile' not found"):
        missing.client("rds")
