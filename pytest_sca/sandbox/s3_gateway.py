"""The sandbox's published S3 endpoint: a gateway in front of moto that enforces tenancy.

moto's server checks no signatures, so by itself any key reads any bucket.
This gateway verifies AWS Signature V4 (header and presigned-URL forms,
expiry included) against the tenants' key pairs, lets a tenant's key reach
only that tenant's bucket, refuses anonymous requests unless the bucket's
policy grants ``Principal: "*"`` the action, and forwards what it admits to
moto. On first sight of a tenant bucket it applies the platform's bucket
defaults: default encryption (SSE-S3, AES256) unless ``sse_disabled``, and a
public-read policy under ``public_bucket``. With a TLS context it serves HTTPS
only (TLS handshake in the connection's own thread).

Every operation is confined to the caller's tenant: a copy's source
(``x-amz-copy-source``) must be the caller's bucket too, and ``ListBuckets``
answers the caller's bucket alone. moto listens on loopback but answers only
requests that carry the gateway's secret header (:class:`ObjectStorage`), so the
gateway is the one way in.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import ssl
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree

from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.s3 import BACKEND_KEY_HEADER

#: access key → (secret key, the one bucket it may use), or None for an unknown key.
KeyLookup = Callable[[str], "tuple[str, str] | None"]

_MAX_SKEW = timedelta(minutes=15)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate"}
_READ_ACTIONS = {"GET": "s3:GetObject", "HEAD": "s3:GetObject"}
PUBLIC_READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                   "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::{bucket}/*"]}],
}


class AuthError(Exception):
    """A request the gateway refuses: S3 error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The SigV4 key of one day, region and service."""
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), service),
                 "aws4_request")


def _canonical_query(raw_query: str, drop: str | None) -> str:
    pairs = []
    for pair in raw_query.split("&") if raw_query else []:
        key, _, value = pair.partition("=")
        if key != drop:
            pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class SignedRequest:
    """The SigV4 parts of one request, from its Authorization header or presigned query."""

    def __init__(self, method: str, raw_path: str, headers: dict[str, str]) -> None:
        parts = urlsplit(raw_path)
        self.method = method
        self.path = parts.path or "/"
        self.raw_query = parts.query
        self.headers = headers
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.presigned = "X-Amz-Signature" in query
        if self.presigned:
            credential = query.get("X-Amz-Credential", "")
            self.signed_headers = query.get("X-Amz-SignedHeaders", "host").split(";")
            self.signature = query["X-Amz-Signature"]
            self.amz_date = query.get("X-Amz-Date", "")
            self.expires = int(query.get("X-Amz-Expires", "0") or 0)
            self.payload_hash = "UNSIGNED-PAYLOAD"
        else:
            authorization = headers.get("authorization", "")
            if not authorization.startswith("AWS4-HMAC-SHA256 "):
                raise AuthError("AccessDenied", "unsigned or non-SigV4 request")
            fields = dict(
                item.strip().split("=", 1) for item in authorization[17:].split(",")
                if "=" in item)
            credential = fields.get("Credential", "")
            self.signed_headers = fields.get("SignedHeaders", "").split(";")
            self.signature = fields.get("Signature", "")
            self.amz_date = headers.get("x-amz-date", "")
            self.expires = 0
            self.payload_hash = headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise AuthError("AuthorizationHeaderMalformed", "bad credential scope")
        self.access_key, self.day, self.region, self.service = scope[:4]

    def verify(self, secret: str, now: datetime, *, check_expiry: bool = True) -> None:
        """Raise :class:`AuthError` unless the signature is right and the request is current
        (``check_expiry`` false: a presigned URL never expires, the
        ``presigned_urls_never_expire`` fault)."""
        try:
            signed_at = datetime.strptime(self.amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=timezone.utc)
        except ValueError:
            raise AuthError("AccessDenied", "missing or malformed X-Amz-Date") from None
        if self.presigned:
            if check_expiry and now > signed_at + timedelta(seconds=self.expires):
                raise AuthError("AccessDenied", "Request has expired")
        elif abs(now - signed_at) > _MAX_SKEW:
            raise AuthError("RequestTimeTooSkewed", "request time too far from server time")
        headers = "".join(
            f"{name}:{' '.join(self.headers.get(name, '').split())}\n"
            for name in self.signed_headers)
        canonical = "\n".join([
            self.method, self.path,
            _canonical_query(self.raw_query, "X-Amz-Signature" if self.presigned else None),
            headers, ";".join(self.signed_headers), self.payload_hash])
        scope = f"{self.day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        expected = hmac.new(signing_key(secret, self.day, self.region, self.service),
                            to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.signature):
            raise AuthError("SignatureDoesNotMatch",
                            "the request signature does not match the key's")


def _policy_allows_anyone(policy_text: str | None, action: str) -> bool:
    if not policy_text:
        return False
    try:
        statements = json.loads(policy_text).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        principal = statement.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        if statement.get("Effect") == "Allow" and anyone and (
                action in actions or "s3:*" in actions):
            return True
    return False


class S3Gateway:
    """The gateway server: start, stop, and its URL."""

    def __init__(self, backend: str, keys: KeyLookup, tenant_buckets: Callable[[], set[str]],
                 admin_client: Callable[[], Any], faults: Faults,
                 tls: ssl.SSLContext | None = None, backend_key: str = "") -> None:
        self.backend = urlsplit(backend)
        #: The secret header value moto requires: only the gateway knows it.
        self.backend_key = backend_key
        self.keys = keys
        self.tenant_buckets = tenant_buckets
        self.admin = admin_client
        self.faults = faults
        self.tls = tls
        self._prepared: set[str] = set()
        self._lock = threading.Lock()
        self._servers: list[tuple[ThreadingHTTPServer, threading.Thread, str]] = []
        self.url = ""
        self.internal_url = ""

    # --- bucket defaults -----------------------------------------------------------------------

    def prepare(self, bucket: str) -> None:
        """Apply the platform's defaults to a tenant bucket once per start."""
        with self._lock:
            if bucket in self._prepared or bucket not in self.tenant_buckets():
                return
            client = self.admin()
            if not {Fault.SSE_DISABLED, Fault.SSE_REPORTED_NOT_APPLIED} & set(self.faults):
                client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
            if Fault.PUBLIC_BUCKET in self.faults:
                policy = json.dumps(PUBLIC_READ_POLICY).replace("{bucket}", bucket)
                client.put_bucket_policy(Bucket=bucket, Policy=policy)
            self._prepared.add(bucket)

    def _bucket_policy(self, bucket: str) -> str | None:
        try:
            return str(self.admin().get_bucket_policy(Bucket=bucket)["Policy"])
        except Exception:  # noqa: BLE001 - botocore's NoSuchBucketPolicy / NoSuchBucket
            return None

    # --- decisions -----------------------------------------------------------------------------

    def admit(self, method: str, raw_path: str, headers: dict[str, str]) -> str | None:
        """Raise :class:`AuthError` unless the request may reach moto; the caller's own
        bucket (None for an anonymous request)."""
        bucket = unquote(urlsplit(raw_path).path.lstrip("/").split("/", 1)[0])
        if bucket:
            self.prepare(bucket)
        anonymous = "authorization" not in headers and "X-Amz-Signature" not in raw_path
        if anonymous:
            action = _READ_ACTIONS.get(method)
            if bucket and action and _policy_allows_anyone(self._bucket_policy(bucket), action):
                return None
            raise AuthError("AccessDenied", "anonymous access is not allowed")
        signed = SignedRequest(method, raw_path, headers)
        found = self.keys(signed.access_key)
        if found is None:
            raise AuthError("InvalidAccessKeyId", "the access key is not known")
        secret, own_bucket = found
        signed.verify(secret, datetime.now(timezone.utc),
                      check_expiry=Fault.PRESIGNED_URLS_NEVER_EXPIRE not in self.faults)
        if bucket and bucket != own_bucket:
            action = _READ_ACTIONS.get(method)
            if action and _policy_allows_anyone(self._bucket_policy(bucket), action):
                return own_bucket
            raise AuthError("AccessDenied", f"this key may use bucket {own_bucket} only")
        source = headers.get("x-amz-copy-source")
        if source:  # CopyObject, UploadPartCopy: the source is read with the caller's rights
            source_bucket = unquote(source).lstrip("/").split("/", 1)[0]
            if source_bucket != own_bucket and not _policy_allows_anyone(
                    self._bucket_policy(source_bucket), "s3:GetObject"):
                raise AuthError("AccessDenied",
                                f"this key may copy from bucket {own_bucket} only")
        return own_bucket

    # --- server --------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen on 127.0.0.1 (ports chosen by the kernel) and serve from threads: ``url`` is
        the published endpoint (HTTPS with a TLS context), ``internal_url`` the plain-HTTP
        one the platform hands its own jobs and tenants (as in-cluster endpoints are), with
        the same signature and tenancy checks."""
        self._servers = [self._listen(self.tls)]
        self.url = self._servers[0][2]
        self.internal_url = self.url
        if self.tls is not None:
            self._servers.append(self._listen(None))
            self.internal_url = self._servers[1][2]

    def _listen(self, tls: ssl.SSLContext | None
                ) -> tuple[ThreadingHTTPServer, threading.Thread, str]:
        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request: Any, client_address: Any) -> None:
                if tls is not None:
                    # The handshake runs here, in the connection's thread, bounded.
                    request.settimeout(10)
                    try:
                        request = tls.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError):
                        with contextlib.suppress(OSError):
                            request.close()
                        return
                super().finish_request(request, client_address)

            def handle_error(self, request: Any, client_address: Any) -> None:
                """Broken client connections are the client's business, not stderr's."""

        server = Server(("127.0.0.1", 0), _handler(self))
        url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="sandbox-s3-gateway", daemon=True)
        thread.start()
        return server, thread, url

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        for server, thread, _ in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers = []


def _handler(gateway: S3Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Kept-alive connections: with Nagle on, a body written after its headers waits
        # for the client's delayed ACK, 40 ms a request (see server.py's API socket).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """No access log: the sandbox's stderr is for problems."""

        def _relay(self) -> None:
            body = self._body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                own_bucket = gateway.admit(self.command, self.path, headers)
            except AuthError as refusal:
                self._error(403, refusal.code, str(refusal))
                return
            target = urlsplit(self.path)
            if (Fault.BUCKET_ENCRYPTION_NOT_IMPLEMENTED in gateway.faults
                    and "encryption" in dict(parse_qsl(target.query, keep_blank_values=True))):
                self._error(501, "NotImplemented", "A header you provided implies "
                            "functionality that is not implemented")
                return
            # An object (a key below the bucket), not a bucket-level request.
            on_object = "/" in target.path.lstrip("/").rstrip("/")
            connection = http.client.HTTPConnection(
                gateway.backend.hostname or "127.0.0.1", gateway.backend.port, timeout=30)
            try:
                forwarded = {k: v for k, v in self.headers.items()
                             if k.lower() not in _HOP_BY_HOP
                             and k.lower() != BACKEND_KEY_HEADER.lower()}
                forwarded[BACKEND_KEY_HEADER] = gateway.backend_key
                connection.request(self.command, self.path, body=body, headers=forwarded)
                answer = connection.getresponse()
                content = answer.read()
                if (own_bucket is not None and self.command == "GET"
                        and urlsplit(self.path).path in ("", "/") and answer.status == 200):
                    content = _only_bucket(content, own_bucket)
            except (OSError, http.client.HTTPException) as exc:
                self._error(502, "BadGateway", f"object store unreachable: {exc}")
                return
            finally:
                connection.close()
            self.send_response(answer.status)
            sent = set()
            for name, value in answer.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
                    sent.add(name.lower())
            if (Fault.SSE_REPORTED_NOT_APPLIED in gateway.faults and on_object
                    and self.command in ("GET", "HEAD") and answer.status == 200
                    and "x-amz-server-side-encryption" not in sent):
                self.send_header("x-amz-server-side-encryption", "AES256")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        def _body(self) -> bytes:
            """The request body, whole (HTTP chunked transfer decoded)."""
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailer fields
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _error(self, status: int, code: str, message: str) -> None:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error>").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

    return Handler



def _only_bucket(listing: bytes, bucket: str) -> bytes:
    """A ListBuckets answer with every bucket but ``bucket`` left out (moto keeps one account
    for all tenants; a tenant sees its own bucket only)."""
    try:
        root = ElementTree.fromstring(listing)
    except ElementTree.ParseError:
        return listing
    namespace = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    for buckets in root.iter(f"{namespace}Buckets"):
        for entry in list(buckets):
            if entry.findtext(f"{namespace}Name") != bucket:
                buckets.remove(entry)
    if namespace:
        ElementTree.register_namespace("", namespace[1:-1])
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def tenant_keys(store: Any) -> KeyLookup:
    """Key lookup over the platform's tenants (their ``storage`` entries)."""

    def lookup(access_key: str) -> tuple[str, str] | None:
        for tenant in store.list("tenant"):
            storage = tenant.get("storage") or {}
            if storage.get("access_key") == access_key:
                return str(storage["secret_key"]), str(storage["bucket"])
        return None

    return lookup


def tenant_buckets(store: Any) -> Callable[[], set[str]]:
    """The buckets of the platform's tenants, read afresh on each call."""
    return lambda: {t["storage"]["bucket"] for t in store.list("tenant") if t.get("storage")}
