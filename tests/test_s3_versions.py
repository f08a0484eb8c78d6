"""A listing of an agent-state prefix returns what one paginated ListObjectVersions returns, whether it
fits in one page (one request) or is listed by folder, concurrently, and merged in S3's order."""

import boto3
import pytest

moto = pytest.importorskip("moto")

from pytest_kosmos_dr.clients.s3_versions import list_versions  # noqa: E402

BUCKET = "kosmos-backups"


@pytest.fixture
def s3():
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-west-2", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _fill(s3):
    keys = [f"agent-state/{agent}/{agent}-2026-11-{day:02d}.tar.gz" for agent in ("zeus", "hermes", "athena")
            for day in range(1, 9)]
    keys += ["agent-state/README", "agent-state/zeus/nested/deeper.tar.gz", "agent-state/ünïcode/a.tar.gz",
             "agent-state-elsewhere/x", "other/agent-state/y"]
    for key in keys:
        for body in (b"one", b"two"):  # two versions of each key
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.delete_object(Bucket=BUCKET, Key="agent-state/hermes/hermes-2026-11-03.tar.gz")  # a delete marker
    s3.delete_object(Bucket=BUCKET, Key="agent-state/README")


def _plain(s3, prefix, page_size):
    versions, markers = [], []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=BUCKET, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
    return versions, markers


def _counted(s3):
    calls = []
    s3.meta.events.register("before-parameter-build.s3.ListObjectVersions", lambda params, **_: calls.append(dict(params)))
    return calls


@pytest.mark.parametrize("prefix", ["agent-state/", "agent-state", "agent-state/zeus/"])
def test_a_listing_split_by_folder_is_the_plain_listing(s3, prefix):
    _fill(s3)
    expected = _plain(s3, prefix, 7)
    calls = _counted(s3)
    versions, markers = list_versions(s3, BUCKET, prefix, page_size=7)
    assert (versions, markers) == expected
    assert len(versions) > 7 and markers == [m for m in markers if m["Key"].startswith(prefix)]
    if prefix.startswith("agent-state/") and prefix != "agent-state/zeus/" or prefix == "agent-state":
        assert {m["Key"] for m in markers} == {"agent-state/README", "agent-state/hermes/hermes-2026-11-03.tar.gz"}
    assert any(c.get("Delimiter") == "/" for c in calls)  # it was split


def test_a_listing_of_one_page_is_one_request(s3):
    _fill(s3)
    expected = _plain(s3, "agent-state/zeus/", 1000)
    calls = _counted(s3)
    versions, markers = list_versions(s3, BUCKET, "agent-state/zeus/")
    assert (versions, markers) == expected and versions
    assert len(calls) == 1 and "Delimiter" not in calls[0]


def test_an_empty_prefix_lists_nothing(s3):
    assert list_versions(s3, BUCKET, "agent-state/", page_size=2) == ([], [])


def test_a_listing_the_split_cannot_make_goes_on_as_the_plain_listing(s3):
    """A policy may allow ListObjectVersions on the agent-state prefix alone: the folders are refused, and
    the listing is the plain one (the same result), never a could-not-verify."""
    from botocore.exceptions import ClientError

    _fill(s3)
    expected = _plain(s3, "agent-state/", 7)

    def refuse_other_prefixes(params, **_):
        if params.get("Prefix") != "agent-state/" or params.get("Delimiter"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectVersions")

    s3.meta.events.register("before-parameter-build.s3.ListObjectVersions", refuse_other_prefixes)
    assert list_versions(s3, BUCKET, "agent-state/", page_size=7) == expected


def test_a_plain_listing_that_fails_still_fails(s3):
    from botocore.exceptions import ClientError

    _fill(s3)

    def refuse(params, **_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectVersions")

    s3.meta.events.register("before-parameter-build.s3.ListObjectVersions", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        list_versions(s3, BUCKET, "agent-state/", page_size=7)
