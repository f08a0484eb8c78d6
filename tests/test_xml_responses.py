"""S3 and Route53 answers parsed by the tuned botocore session equal botocore's own parse, operation by
operation (moto answers both), and S3's errors inside a 200 answer are still found and retried."""

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

moto = pytest.importorskip("moto")

from pytest_kosmos_dr.clients import xml_responses  # noqa: E402
from pytest_kosmos_dr.clients.aws import parse_timestamp  # noqa: E402

BUCKET = "kosmos-backups"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _session(tuned: bool) -> boto3.session.Session:
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    if tuned:
        xml_responses.tune_xml_parsing(core)
    return boto3.session.Session(botocore_session=core)


@pytest.fixture
def clients():
    with moto.mock_aws():
        stock, tuned = _session(False), _session(True)
        yield ({name: session.client(name, region_name="us-west-2", **CREDENTIALS) for name in ("s3", "route53")}
               for session in (stock, tuned))


def _without_metadata(answer):
    """The answer without what differs between two requests: request ids, and when moto says it checked."""
    answer = dict(answer)
    answer.pop("ResponseMetadata", None)
    for observation in answer.get("HealthCheckObservations", []):
        checked = observation["StatusReport"].pop("CheckedTime")
        assert checked.tzinfo is not None, "a timestamp, parsed aware"
    return answer


def _fill(s3, route53):
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "keep", "Status": "Enabled", "Filter": {"Prefix": "agent-state/"},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
         "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]}]})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "owner", "Value": "sre"}]})
    for agent in ("zeus", "hermes", "ünïcode & <x>"):
        for day in range(1, 4):
            key = f"agent-state/{agent}/{agent}-state-2026-11-0{day}.tar.gz"
            for body in (b"one", b"two-" * day):
                s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"agent": "x"},
                              Tagging="kind=archive")
    s3.put_object(Bucket=BUCKET, Key="agent-state/empty", Body=b"")
    s3.delete_object(Bucket=BUCKET, Key="agent-state/hermes/hermes-state-2026-11-02.tar.gz")
    zone = route53.create_hosted_zone(Name="kosmos.internal", CallerReference="a")["HostedZone"]["Id"]
    check = route53.create_health_check(CallerReference="b", HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": "api.kosmos.internal", "ResourcePath": "/health",
        "RequestInterval": 10, "FailureThreshold": 3})["HealthCheck"]["Id"]
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.kosmos.internal", "Type": "CNAME", "SetIdentifier": "primary", "Failover": "PRIMARY",
            "TTL": 60, "HealthCheckId": check, "ResourceRecords": [{"Value": "primary.example"}]}},
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.kosmos.internal", "Type": "CNAME", "SetIdentifier": "secondary", "Failover": "SECONDARY",
            "TTL": 60, "ResourceRecords": [{"Value": "secondary.example"}]}}]})
    return zone, check


def _reads(s3, route53, zone, check):
    """Every read the gate makes of S3 and Route53, and a few more shapes (attributes, maps, errors)."""
    key = "agent-state/zeus/zeus-state-2026-11-01.tar.gz"
    answers = [
        s3.list_buckets(),
        s3.get_bucket_versioning(Bucket=BUCKET),
        s3.get_bucket_lifecycle_configuration(Bucket=BUCKET),
        s3.get_bucket_tagging(Bucket=BUCKET),
        s3.get_bucket_location(Bucket=BUCKET),
        s3.get_bucket_acl(Bucket=BUCKET),  # Grantee carries an xsi:type attribute: botocore's own code
        s3.get_object_tagging(Bucket=BUCKET, Key=key),
        s3.head_object(Bucket=BUCKET, Key=key),
        s3.list_objects(Bucket=BUCKET, Prefix="agent-state/"),
        s3.list_objects_v2(Bucket=BUCKET, Prefix="agent-state/", Delimiter="/"),
        s3.list_object_versions(Bucket=BUCKET, Prefix="agent-state/", Delimiter="/"),
        s3.list_object_versions(Bucket=BUCKET, Prefix="agent-state/", EncodingType="url"),
        route53.list_hosted_zones(),
        route53.get_hosted_zone(Id=zone),
        route53.list_resource_record_sets(HostedZoneId=zone),
        route53.list_health_checks(),
        route53.get_health_check_status(HealthCheckId=check),
    ]
    answers += list(s3.get_paginator("list_object_versions").paginate(
        Bucket=BUCKET, Prefix="agent-state/", PaginationConfig={"PageSize": 4}))
    for failing in (lambda: s3.get_object(Bucket=BUCKET, Key="agent-state/missing"),
                    lambda: s3.get_bucket_versioning(Bucket="no-such-bucket"),
                    lambda: route53.get_hosted_zone(Id="Z0000000000000")):
        try:
            failing()
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            answers.append((type(exc).__name__, getattr(exc, "response", {}).get("Error")))
    return answers


def test_the_tuned_parse_equals_botocores_on_every_read(clients):
    stock, tuned = clients
    zone, check = _fill(stock["s3"], stock["route53"])
    expected = [_without_metadata(a) if isinstance(a, dict) else a for a in _reads(stock["s3"], stock["route53"], zone, check)]
    got = [_without_metadata(a) if isinstance(a, dict) else a for a in _reads(tuned["s3"], tuned["route53"], zone, check)]
    assert got == expected
    versions = [a for a in got if isinstance(a, dict) and "Versions" in a]
    assert versions and any(a.get("DeleteMarkers") for a in versions), "the comparison covered versions and markers"
    assert any(a.get("CommonPrefixes") for a in got if isinstance(a, dict)), "and a delimited listing"
    assert [type(a) for a in got] == [type(a) for a in expected]
    for answer in versions:
        assert [list(v) for v in answer["Versions"]] == [list(v) for v in expected[got.index(answer)]["Versions"]], \
            "members come in botocore's order"


def _canned(bodies: list[bytes]):
    """A before-send handler that answers each S3 request with the next body (status 200)."""
    sent = []

    class Raw:
        def __init__(self, body):
            self._body = body

        def stream(self, **_):
            yield self._body

    def answer(request, **_):
        body = bodies[min(len(sent), len(bodies) - 1)]
        sent.append(request.url)
        return AWSResponse(request.url, 200, {"x-amz-request-id": f"r{len(sent)}"}, Raw(body))

    return sent, answer


GOOD = (b'<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>kosmos-backups</Name><Prefix>agent-state/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>"
        b"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Version><Key>agent-state/zeus/a.tar.gz</Key>"
        b"<VersionId>v1</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-30T09:12:00.000Z</LastModified>"
        b'<ETag>"abc"</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass><Owner><ID>o</ID></Owner></Version>'
        b"</ListVersionsResult>")
ERROR_IN_200 = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                b"<Message>We encountered an internal error. Please try again.</Message></Error>")


@pytest.mark.parametrize("broken", [ERROR_IN_200, GOOD[:200]], ids=["error-inside-200", "cut-off-body"])
@pytest.mark.parametrize("tuned", [False, True], ids=["botocore", "tuned"])
def test_an_error_inside_a_200_answer_is_retried_as_botocore_does(broken, tuned):
    client = _session(tuned).client("s3", region_name="us-west-2", **CREDENTIALS)
    sent, answer = _canned([broken, GOOD])
    client.meta.events.register("before-send.s3.ListObjectVersions", answer)
    listed = client.list_object_versions(Bucket=BUCKET, Prefix="agent-state/")
    assert len(sent) == 2, "the broken answer was retried"
    assert [v["Key"] for v in listed["Versions"]] == ["agent-state/zeus/a.tar.gz"]
    assert listed["Versions"][0]["Owner"] == {"ID": "o"} and listed["Versions"][0]["Size"] == 42


def test_a_good_answer_is_parsed_once(monkeypatch):
    client = _session(True).client("s3", region_name="us-west-2", **CREDENTIALS)
    _, answer = _canned([GOOD])
    client.meta.events.register("before-send.s3.ListObjectVersions", answer)
    parsed = []
    original = xml_responses._parse
    monkeypatch.setattr(xml_responses, "_parse", lambda body: parsed.append(body) or original(body))
    from botocore import parsers

    again = []
    monkeypatch.setattr(parsers.BaseXMLResponseParser, "_parse_xml_string_to_dom", lambda self, body: again.append(body))
    listed = client.list_object_versions(Bucket=BUCKET, Prefix="agent-state/")
    assert parsed == [GOOD] and not again, "the 200-error check parsed the body once and the parser reused that tree"
    assert listed["Versions"][0]["IsLatest"] is True and listed["IsTruncated"] is False


def test_left_as_botocore_has_it_when_its_factory_is_not_botocores():
    core = botocore.session.get_session()

    class Other:
        def create_parser(self, protocol_name):
            raise AssertionError

    other = Other()
    core.register_component("response_parser_factory", other)
    xml_responses.tune_xml_parsing(core)
    assert core.get_component("response_parser_factory") is other
