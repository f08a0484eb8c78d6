"""The sandbox's ListObjectVersions answer (sandbox/aws/version_listing.py) is moto's, byte for byte: every
page of a bucket with null versions, delete markers, archive-class versions, keys that need escaping and
keys outside the prefix, with and without a prefix, a delimiter and page markers."""

from datetime import datetime, timezone

import pytest

moto = pytest.importorskip("moto")

BUCKET = "kosmos-listing-test"
VOLATILE = {"date", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2"}


@pytest.fixture(scope="module")
def s3():
    import boto3

    from pytest_kosmos_dr.sandbox.aws import agent_state
    from pytest_kosmos_dr.sandbox.aws.version_listing import serve_version_listing

    serve_version_listing()
    with moto.mock_aws():
        from moto.s3.models import s3_backends

        from pytest_kosmos_dr.sandbox.aws.rds_backend import ACCOUNT_ID

        agent_state.install_paged_version_listing(s3_backends[ACCOUNT_ID]["aws"])  # as the sandbox serves S3
        client = boto3.client("s3", region_name="us-west-2", aws_access_key_id="k", aws_secret_access_key="s")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        client.put_object(Bucket=BUCKET, Key="agent-state/written before versioning & <ok>.txt", Body=b"a")
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket=BUCKET, Key="agent-state/zeus/zeus-state-1.tar.gz", Body=b"abc", StorageClass="GLACIER")
        client.put_object(Bucket=BUCKET, Key="agent-state/zeus/zeus-state-1.tar.gz", Body=b"abcd")
        client.delete_object(Bucket=BUCKET, Key="agent-state/zeus/zeus-state-1.tar.gz")
        client.put_object(Bucket=BUCKET, Key="agent-state/zé/ü \"quoted\".tar.gz", Body=b"")
        client.put_object(Bucket=BUCKET, Key="agent-statement.txt", Body=b"outside the prefix")
        client.put_object(Bucket=BUCKET, Key="other/x", Body=b"x")
        for hour in range(5):  # backdated, as the sandbox seeds its archives
            at = datetime(2026, 1, 1, hour, 30, 15, tzinfo=timezone.utc)
            agent_state.put_backdated(f"agent-state/hera/hera-state-{hour}.tar.gz", b"state" * 10, at, BUCKET)
            agent_state.put_backdated("agent-state/hera-state-daily.tar.gz", b"state" * 10, at, BUCKET)
        yield client


def answers(s3, **params):
    """Every page (status, headers without volatile ones, body) of the listing with ``params``."""
    pages, seen = [], {}

    def grab(http_response, **_):
        seen["page"] = (http_response.status_code,
                        {k.lower(): v for k, v in http_response.headers.items() if k.lower() not in VOLATILE},
                        http_response.content)

    s3.meta.events.register("after-call.s3.ListObjectVersions", grab)
    try:
        while True:
            answer = s3.list_object_versions(Bucket=BUCKET, **params)
            pages.append(seen.pop("page"))
            if not answer.get("IsTruncated"):
                return pages
            params = {**params, "KeyMarker": answer["NextKeyMarker"],
                      "VersionIdMarker": answer.get("NextVersionIdMarker") or ""}
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectVersions", grab)


@pytest.mark.parametrize("params", [
    {}, {"Prefix": "agent-state/"}, {"Prefix": "agent-state/", "MaxKeys": 2}, {"Prefix": "agent-state/", "MaxKeys": 1},
    {"Prefix": "agent-state/", "Delimiter": "/"}, {"Delimiter": "/", "MaxKeys": 2}, {"Prefix": "nothing-here/"},
    {"Prefix": "agent-state/", "KeyMarker": "agent-state/hera/"},
], ids=repr)
def test_every_page_is_the_answer_moto_writes(s3, params, monkeypatch):
    from moto.s3.responses import S3Response

    from pytest_kosmos_dr.sandbox.aws import version_listing

    direct, writer = [], version_listing.list_versions_xml

    def counted(result):
        body = writer(result)
        direct.append(body)
        return body

    monkeypatch.setattr(version_listing, "list_versions_xml", counted)
    written = answers(s3, **params)
    assert len(direct) == len(written)  # every page written directly, none left to moto's serializer
    monkeypatch.setattr(S3Response, "list_object_versions", S3Response.list_object_versions.moto_handler)
    assert written == answers(s3, **params)
    assert all(status == 200 for status, _, _ in written)


def test_the_listing_sees_every_version_marker_and_stray_key(s3):
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix="agent-state/",
                                                             PaginationConfig={"PageSize": 3})
    versions, markers = [], []
    for page in pages:
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
    keys = [v["Key"] for v in versions]
    assert "agent-state/written before versioning & <ok>.txt" in keys
    assert next(v for v in versions if v["Key"].startswith("agent-state/written"))["VersionId"] == "null"
    assert keys.count("agent-state/zeus/zeus-state-1.tar.gz") == 2
    assert {v["StorageClass"] for v in versions if v["Key"] == "agent-state/zeus/zeus-state-1.tar.gz"} == {"STANDARD", "GLACIER"}
    assert [(m["Key"], m["IsLatest"]) for m in markers] == [("agent-state/zeus/zeus-state-1.tar.gz", True)]
    assert keys.count("agent-state/hera-state-daily.tar.gz") == 5
    assert "agent-statement.txt" not in keys and "other/x" not in keys
    assert len(versions) == 1 + 2 + 1 + 5 + 5


def _shown(answer):
    versions, prefixes, markers, next_key, next_version = answer
    return ([(v.name, v.version_id, v.is_latest) for v in versions], prefixes,
            [(m.name, m.version_id, m.is_latest) for m in markers], next_key, next_version)


@pytest.mark.parametrize("delimiter", [None, "/", "-"])
@pytest.mark.parametrize("prefix", ["", "agent-state/", "agent-state/hera"])
@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
def test_the_sandbox_pages_through_versions_as_moto_does(s3, prefix, max_keys, delimiter):
    """Every page, walked by its markers, and listings from a key marker alone (an existing key or none):
    the sandbox's per-page listing answers what moto's whole-bucket one does."""
    from moto.s3.models import S3Backend, s3_backends

    from pytest_kosmos_dr.sandbox.aws.rds_backend import ACCOUNT_ID

    backend = s3_backends[ACCOUNT_ID]["aws"]
    assert backend._kosmos_paged_versions

    def both(**kwargs):
        ours = backend.list_object_versions(BUCKET, prefix=prefix, max_keys=max_keys, delimiter=delimiter, **kwargs)
        assert _shown(ours) == _shown(S3Backend.list_object_versions(backend, BUCKET, prefix=prefix, max_keys=max_keys,
                                                                     delimiter=delimiter, **kwargs))
        return ours

    key_marker = version_marker = None
    for _ in range(40):
        *_, key_marker, version_marker = both(key_marker=key_marker, version_id_marker=version_marker)
        if key_marker is None:
            break
    assert key_marker is None
    for marker in ("agent-state/hera/hera-state-2.tar.gz", "agent-state/hera-state-daily.tar.gz", "agent-state/i", ""):
        both(key_marker=marker)
