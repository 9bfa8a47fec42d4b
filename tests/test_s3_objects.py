"""Small objects through obstore, on the boto3 client's endpoint, region and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities import s3 as s3_module
from activities.s3 import S3Activities
from activities.s3_objects import S3Objects, _endpoint
from tests.conftest import Stack
from waveflow.tempfiles import TempArea


@pytest.mark.parametrize(("boto3_endpoint", "bucket", "expected"), [
    ("https://s3.eu-west-1.amazonaws.com", "stems", ("https://stems.s3.eu-west-1.amazonaws.com", True)),
    ("https://s3-fips.us-east-1.amazonaws.com", "stems", ("https://stems.s3-fips.us-east-1.amazonaws.com", True)),
    ("https://s3.cn-north-1.amazonaws.com.cn", "stems", ("https://stems.s3.cn-north-1.amazonaws.com.cn", True)),
    # A dotted bucket in the host name would not match AWS's wildcard certificate: boto3 puts it in the path too.
    ("https://s3.eu-west-1.amazonaws.com", "my.stems", ("https://s3.eu-west-1.amazonaws.com", False)),
    ("http://127.0.0.1:4566", "stems", ("http://127.0.0.1:4566", False)),
    ("http://localstack:4566", "stems", ("http://localstack:4566", False)),
])
def test_the_bucket_is_addressed_as_boto3_addresses_it(boto3_endpoint: str, bucket: str,
                                                       expected: tuple[str, bool]) -> None:
    assert _endpoint(boto3_endpoint, bucket) == expected


def test_a_put_and_a_get_on_the_clients_endpoint_and_credentials(stack: Stack, tmp_path: Path) -> None:
    objects = S3Objects(stack.aws.s3(), stack.bucket)
    objects.put("waveforms/a.json", b'{"a": 1}', "application/json")
    detail = tmp_path / "a.dat"
    detail.write_bytes(bytes(range(256)) * 10)
    objects.put("waveforms/a.dat", detail, "application/octet-stream")
    head = stack.aws.s3().head_object(Bucket=stack.bucket, Key="waveforms/a.json")
    assert head["ContentType"] == "application/json"
    opened = objects.get("waveforms/a.dat", 1024)
    assert opened.size == 2560 and opened.etag == stack.aws.s3().head_object(
        Bucket=stack.bucket, Key="waveforms/a.dat")["ETag"]
    assert b"".join(opened.chunks) == detail.read_bytes()



def test_a_file_over_the_small_object_size_streams_through_boto3(stack: Stack, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> None:
        raise AssertionError("obstore was given a large file")

    activities = S3Activities(stack.settings, stack.aws.s3(), TempArea(tmp_path / "temp"))
    monkeypatch.setattr(s3_module, "SMALL_OBJECT_BYTES", 1000)
    monkeypatch.setattr(S3Objects, "put", refused)
    detail = tmp_path / "large.dat"
    detail.write_bytes(bytes(1001))
    activities.upload_file(detail, "waveforms/large.dat", "application/octet-stream")
    assert stack.aws.s3().get_object(Bucket=stack.bucket, Key="waveforms/large.dat")["Body"].read() == bytes(1001)
    detail.write_bytes(bytes(1000))
    with pytest.raises(AssertionError, match="obstore was given"):
        activities.upload_file(detail, "waveforms/small.dat", "application/octet-stream")
