"""The built-in HMAC-SHA256 signer: its AWS SigV4 preset signs byte for byte as botocore does.

botocore (installed with boto3, a core dependency) is AWS's own signer: each row of
the table is signed by both, at the same instant, and the whole Authorization header
and every header the signer adds must be identical. The client's own encoding of a
query (RFC 3986, repeated keys, empty values) is compared with botocore's ``params``
form too, so that what the client sends is what AWS canonicalises.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests.structures import CaseInsensitiveDict

from pytest_sca.adapters.http import encode_query
from pytest_sca.adapters.signing import (
    HmacSha256Signer,
    SignableRequest,
    known_signers,
    load_signer,
    make_signer,
)

NOW = dt.datetime(2025, 3, 14, 15, 9, 26, tzinfo=dt.timezone.utc)
ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzE//token"

#: (id, method, URL, headers, body, service, session token)
TABLE: list[tuple[str, str, str, dict[str, str], bytes, str, str | None]] = [
    ("get-root", "GET", "https://example.amazonaws.com/", {}, b"", "service", None),
    ("get-no-path", "GET", "https://example.amazonaws.com", {}, b"", "service", None),
    ("get-query-sorted", "GET", "https://example.amazonaws.com/?b=2&a=1&c=3", {}, b"",
     "service", None),
    ("repeated-keys", "GET", "https://example.amazonaws.com/list?tag=z&tag=a&tag=m", {}, b"",
     "service", None),
    ("empty-values", "GET", "https://example.amazonaws.com/?empty=&flag&x=1", {}, b"",
     "service", None),
    ("encoded-query", "GET",
     "https://example.amazonaws.com/?label=sca-run%3Dabc&q=a%20b%2Bc&u=%C3%BC%2F~", {}, b"",
     "service", None),
    ("space-and-unicode-path", "GET",
     "https://example.amazonaws.com/jobs/a%20b/%C3%BC/%2Fslash/~tilde", {}, b"", "service",
     None),
    ("dot-segments", "GET", "https://example.amazonaws.com/a/./b/../c//d/", {}, b"",
     "service", None),
    ("reserved-in-path", "GET", "https://example.amazonaws.com/v1/jobs/j-1:cancel@x!$'()*,;=",
     {}, b"", "service", None),
    ("post-json", "POST", "https://api.example.com:8443/v2/workloads",
     {"Content-Type": "application/json", "Accept": "application/json"},
     b'{"name": "train", "cmd": ["python", "-c", "print(1)"]}', "execute-api", None),
    ("put-header-whitespace", "PUT", "http://127.0.0.1:8080/v2/x?a=1",
     {"X-Custom": "  several   spaces  here ", "Content-Type": "text/plain"}, b"body text",
     "execute-api", None),
    ("delete-session-token", "DELETE", "https://example.amazonaws.com/jobs/j%201", {},
     b"", "service", TOKEN),
    ("patch-unicode-body", "PATCH", "https://example.amazonaws.com/m/1",
     {"Content-Type": "application/json; charset=utf-8"}, '{"d": "模型 ü"}'.encode(),
     "service", TOKEN),
    ("unsigned-headers-left-out", "GET", "https://example.amazonaws.com/?x=y",
     {"User-Agent": "python-requests/2.32", "Connection": "keep-alive",
      "Accept-Encoding": "gzip, deflate"}, b"", "service", None),
    ("ipv6-default-port", "GET", "https://[::1]:443/a", {}, b"", "service", None),
    ("s3-path-as-sent", "PUT", "https://bucket.s3.amazonaws.com/key%20with%20space/a+b",
     {"Content-Type": "application/octet-stream"}, b"\x00\x01 binary", "s3", None),
    ("s3-session-token", "GET", "https://s3.amazonaws.com/bucket/obj?list-type=2&prefix=",
     {}, b"", "s3", TOKEN),
]


def _botocore(method: str, url: str, headers: dict[str, str], body: bytes, service: str,
              token: str | None, params: Any = None) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body,
                         params=params)
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_class(Credentials(ACCESS, SECRET, token), service, "eu-west-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        signer.add_auth(request)
    return request


def _ours(method: str, url: str, headers: dict[str, str], body: bytes, service: str,
          token: str | None) -> SignableRequest:
    signer = HmacSha256Signer({"preset": "aws-sigv4", "access_key": ACCESS,
                               "secret_key": SECRET, "session_token": token,
                               "region": "eu-west-1", "service": service})
    request = SignableRequest(method, url, CaseInsensitiveDict(headers), body)
    signer.sign(request, NOW)
    return request


@pytest.mark.parametrize(("method", "url", "headers", "body", "service", "token"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_sigv4_matches_botocore_byte_for_byte(method: str, url: str, headers: dict[str, str],
                                              body: bytes, service: str,
                                              token: str | None) -> None:
    theirs = _botocore(method, url, headers, body, service, token)
    ours = _ours(method, url, headers, body, service, token)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    added = ("X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")
    assert {h: ours.headers.get(h) for h in added} == {h: theirs.headers.get(h) for h in added}


@pytest.mark.parametrize("params", [
    [("b", "2"), ("a", "1")],
    [("tag", "z"), ("tag", "a"), ("tag", "m")],
    [("empty", ""), ("x", "1")],
    [("label", "sca-run=abc"), ("q", "a b+c"), ("u", "ü/~"), ("star", "*'()!")],
])
def test_the_clients_query_encoding_is_what_aws_canonicalises(params: list[tuple[str, str]]
                                                              ) -> None:
    """botocore's params form re-encodes each pair itself: the URL the client builds (RFC 3986)
    must canonicalise to the same, so that what is sent is what was signed."""
    url = "https://example.amazonaws.com/p?" + encode_query(params)
    theirs = _botocore("GET", "https://example.amazonaws.com/p", {}, b"", "service", None,
                       params=params)
    ours = _ours("GET", url, {}, b"", "service", None)
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]


def test_huawei_preset_layout() -> None:
    """SDK-HMAC-SHA256: the secret signs directly, the path ends with '/', no scope."""
    signer = HmacSha256Signer({"preset": "huawei-apig", "access_key": "ak", "secret_key": "sk"})
    request = SignableRequest("GET", "https://apig.example.com/v1/jobs?b=2&a=1",
                              CaseInsensitiveDict(), b"")
    signer.sign(request, NOW)
    authorization = request.headers["Authorization"]
    assert authorization.startswith("SDK-HMAC-SHA256 Access=ak, SignedHeaders=host;x-sdk-date, "
                                    "Signature=")
    assert request.headers["X-Sdk-Date"] == "20250314T150926Z"
    import hashlib
    import hmac

    canonical = ("GET\n/v1/jobs/\na=1&b=2\nhost:apig.example.com\nx-sdk-date:20250314T150926Z\n"
                 f"\nhost;x-sdk-date\n{hashlib.sha256(b'').hexdigest()}")
    to_sign = ("SDK-HMAC-SHA256\n20250314T150926Z\n"
               + hashlib.sha256(canonical.encode()).hexdigest())
    expected = hmac.new(b"sk", to_sign.encode(), hashlib.sha256).hexdigest()
    assert authorization.endswith(f"Signature={expected}")


def test_signers_are_plugins_and_bad_options_are_one_line_without_secrets() -> None:
    assert "hmac-sha256" in known_signers()
    assert load_signer("hmac-sha256") is HmacSha256Signer
    with pytest.raises(KeyError, match="unknown signer 'nope'.*pytest_sca.signers"):
        load_signer("nope")
    with pytest.raises(ValueError) as caught:
        make_signer("hmac-sha256", {"access_key": "a", "secret_key": "s3cr3t-value",
                                    "preset": "azure"})
    assert str(caught.value).startswith("options.preset: Input should be")
    assert "s3cr3t" not in str(caught.value) and "\n" not in str(caught.value)
