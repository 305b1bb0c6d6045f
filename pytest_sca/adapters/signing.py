"""Request signers: plugins that sign every request of a platform adapter.

Several clouds authenticate each request by a keyed hash over a *canonical request*
(method, path, query, chosen headers, body hash) instead of a bearer token. A signer
receives the request exactly as it will be sent and adds its headers.

- Built in: ``hmac-sha256``, the canonical-request HMAC-SHA256 family, with presets
  ``aws-sigv4`` (byte for byte what botocore's ``SigV4Auth``/``S3SigV4Auth`` produce,
  proven by tests/adapters/test_signing.py) and ``huawei-apig`` (``SDK-HMAC-SHA256``),
  and every knob of the family for other variants (docs/mapping.md).
- Plugins: an installed package registers a factory in the entry point group
  ``pytest_sca.signers``; the factory takes the ``options`` of the target file and
  returns a :class:`Signer` (raise ``ValueError`` for bad options).

Signers never print their secrets: :attr:`Signer.secrets` are added to the run's
redaction before any request is sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Entry point group of signer plugins.
SIGNER_GROUP = "pytest_sca.signers"


@dataclass
class SignableRequest:
    """A request as it will go on the wire; a signer adds or replaces ``headers``."""

    method: str
    #: The full URL, query string included, exactly as sent.
    url: str
    #: Case-insensitive in practice (requests' ``CaseInsensitiveDict``); mutable.
    headers: MutableMapping[str, str]
    body: bytes


class Signer(Protocol):
    """Signs requests; built from the ``options`` of ``auth: [{type: sign, …}]``."""

    #: Values that must never appear in output (secret keys, session tokens).
    secrets: Sequence[str]

    def sign(self, request: SignableRequest, now: datetime) -> None:
        """Add the signature (and the headers it covers) to ``request`` at time ``now``."""


#: options → signer.
SignerFactory = Callable[[Mapping[str, Any]], Signer]

#: Headers botocore never signs (hop-by-hop, tracing, user agent); the same list here.
UNSIGNED_HEADERS = frozenset({
    "authorization", "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "te", "traceparent", "tracestate", "trailer", "transfer-encoding",
    "upgrade", "user-agent", "x-amzn-trace-id",
})
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class HmacOptions(BaseModel):
    """The ``options`` of the built-in ``hmac-sha256`` signer.

    ``preset`` fills every knob; a knob given here overrides the preset's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: Literal["aws-sigv4", "huawei-apig", "custom"] = "aws-sigv4"
    access_key: str = Field(min_length=1, description="access key id, e.g. ${AK}")
    secret_key: str = Field(min_length=1, description="secret key, e.g. ${SK}")
    session_token: str | None = Field(default=None, description="temporary session token")
    region: str = Field(default="", description="region in the credential scope")
    service: str = Field(default="", description="service in the credential scope")
    algorithm: str | None = Field(default=None, description="e.g. AWS4-HMAC-SHA256")
    date_header: str | None = Field(default=None, description="e.g. X-Amz-Date")
    date_format: str | None = Field(default=None, description="strftime of the timestamp")
    scope_date_format: str | None = Field(default=None, description="strftime of the date")
    key_prefix: str | None = Field(default=None, description="prefix of the secret: AWS4")
    key_derivation: list[Literal["date", "region", "service", "terminator"]] | None = Field(
        default=None, description="HMAC chain from the secret to the signing key; [] = secret")
    terminator: str | None = Field(default=None, description="last scope part: aws4_request")
    scope: list[Literal["date", "region", "service", "terminator"]] | None = None
    string_to_sign: list[Literal["algorithm", "timestamp", "scope", "hash"]] | None = None
    authorization: str | None = Field(
        default=None, description="format of the Authorization header: {algorithm} "
        "{access_key} {scope} {signed_headers} {signature} {timestamp}")
    session_token_header: str | None = None
    content_sha256_header: str | None = Field(
        default=None, description="header carrying the body hash (S3: X-Amz-Content-SHA256)")
    signed_headers: list[str] | Literal["all"] | None = Field(
        default=None, description="headers signed: all (but hop-by-hop) or a list")
    uri: Literal["aws", "s3", "segments"] | None = Field(
        default=None, description="canonical path: aws (normalised, encoded again), s3 (as "
        "sent), segments (each segment decoded and encoded once)")
    trailing_slash: bool | None = Field(default=None, description="canonical path ends with /")
    unsigned_payload: bool = Field(default=False, description="hash UNSIGNED-PAYLOAD")


_AWS: dict[str, Any] = {
    "algorithm": "AWS4-HMAC-SHA256", "date_header": "X-Amz-Date",
    "date_format": "%Y%m%dT%H%M%SZ", "scope_date_format": "%Y%m%d", "key_prefix": "AWS4",
    "key_derivation": ["date", "region", "service", "terminator"],
    "terminator": "aws4_request", "scope": ["date", "region", "service", "terminator"],
    "string_to_sign": ["algorithm", "timestamp", "scope", "hash"],
    "authorization": "{algorithm} Credential={access_key}/{scope}, "
                     "SignedHeaders={signed_headers}, Signature={signature}",
    "session_token_header": "X-Amz-Security-Token", "content_sha256_header": None,
    "signed_headers": "all", "uri": "aws", "trailing_slash": False,
}
#: Knobs of each preset (``custom`` starts from AWS's layout).
PRESETS: dict[str, dict[str, Any]] = {
    "aws-sigv4": _AWS,
    "huawei-apig": {
        **_AWS, "algorithm": "SDK-HMAC-SHA256", "date_header": "X-Sdk-Date",
        "key_prefix": "", "key_derivation": [], "scope": [],
        "string_to_sign": ["algorithm", "timestamp", "hash"],
        "authorization": "{algorithm} Access={access_key}, SignedHeaders={signed_headers}, "
                         "Signature={signature}",
        "session_token_header": "X-Security-Token", "uri": "segments", "trailing_slash": True,
    },
    "custom": _AWS,
}


class HmacSha256Signer:
    """The canonical-request HMAC-SHA256 family (AWS SigV4, Huawei APIG, and variants)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        parsed = HmacOptions.model_validate(dict(options))
        knobs = dict(PRESETS[parsed.preset])
        if parsed.preset == "aws-sigv4" and parsed.service == "s3":
            # botocore's S3SigV4Auth: the path as sent, and the body hash in a header.
            knobs.update(uri="s3", content_sha256_header="X-Amz-Content-SHA256")
        knobs.update({key: value for key, value in parsed.model_dump().items()
                      if key in knobs and value is not None})
        self.options = parsed
        self.knobs = knobs
        self.secrets: Sequence[str] = [s for s in (parsed.secret_key, parsed.session_token) if s]

    def sign(self, request: SignableRequest, now: datetime) -> None:
        knobs, options = self.knobs, self.options
        headers = request.headers
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
        timestamp = now.strftime(knobs["date_format"])
        _set(headers, knobs["date_header"], timestamp)
        if options.session_token and knobs["session_token_header"]:
            _set(headers, knobs["session_token_header"], options.session_token)
        payload = ("UNSIGNED-PAYLOAD" if options.unsigned_payload
                   else hashlib.sha256(request.body).hexdigest() if request.body
                   else _EMPTY_SHA256)
        if knobs["content_sha256_header"]:
            _set(headers, knobs["content_sha256_header"], payload)
        signed = self._headers_to_sign(request)
        names = sorted(signed)
        canonical = "\n".join([
            request.method.upper(),
            self._canonical_uri(urlsplit(request.url).path),
            _canonical_query(urlsplit(request.url).query),
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            payload,
        ])
        parts = {"date": now.strftime(knobs["scope_date_format"]), "region": options.region,
                 "service": options.service, "terminator": knobs["terminator"]}
        scope = "/".join(parts[part] for part in knobs["scope"])
        pieces = {"algorithm": knobs["algorithm"], "timestamp": timestamp, "scope": scope,
                  "hash": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}
        string_to_sign = "\n".join(pieces[part] for part in knobs["string_to_sign"])
        key = (knobs["key_prefix"] + options.secret_key).encode("utf-8")
        for part in knobs["key_derivation"]:
            key = hmac.new(key, parts[part].encode("utf-8"), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers["Authorization"] = knobs["authorization"].format(
            algorithm=knobs["algorithm"], access_key=options.access_key, scope=scope,
            signed_headers=";".join(names), signature=signature, timestamp=timestamp)

    def _headers_to_sign(self, request: SignableRequest) -> dict[str, str]:
        wanted = self.knobs["signed_headers"]
        chosen: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            lower = name.lower()
            if wanted == "all" and lower in UNSIGNED_HEADERS:
                continue
            if wanted != "all" and lower not in {w.lower() for w in wanted}:
                continue
            chosen.setdefault(lower, []).append(" ".join(str(value).split()))
        if "host" not in chosen:
            chosen["host"] = [_host(request.url)]
        return {name: ",".join(values) for name, values in chosen.items()}

    def _canonical_uri(self, path: str) -> str:
        style = self.knobs["uri"]
        if style == "aws":
            uri = quote(_remove_dot_segments(path) if path else "/", safe="/~")
        elif style == "s3":
            uri = path or "/"
        else:
            uri = "/".join(quote(unquote(segment), safe="~") for segment in path.split("/"))
            uri = uri or "/"
        if self.knobs["trailing_slash"] and not uri.endswith("/"):
            uri += "/"
        return uri


def _set(headers: MutableMapping[str, str], name: str, value: str) -> None:
    for existing in [n for n in headers if n.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def _canonical_query(query: str) -> str:
    """The query's key=value pairs as sent (the client encodes them per RFC 3986), sorted
    by key and then value; a key without ``=`` has an empty value."""
    if not query:
        return ""
    pairs = [pair.partition("=") for pair in query.split("&")]
    return "&".join(f"{key}={value}" for key, value in sorted((k, v) for k, _, v in pairs))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, consecutive slashes collapsed (as AWS requires)."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if output:
                output.pop()
        else:
            output.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and output else ""
    return first + "/".join(output) + last


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


#: Signers that need no installed entry point.
BUILTIN_SIGNERS: dict[str, SignerFactory] = {"hmac-sha256": HmacSha256Signer}


def known_signers() -> list[str]:
    """Names a target file may give as ``signer``: built in, and installed plugins."""
    return sorted(set(BUILTIN_SIGNERS) | {ep.name for ep in entry_points(group=SIGNER_GROUP)})


def load_signer(name: str) -> SignerFactory:
    """The factory of signer ``name``; KeyError naming the known signers if none."""
    if name in BUILTIN_SIGNERS:
        return BUILTIN_SIGNERS[name]
    for point in entry_points(group=SIGNER_GROUP):
        if point.name == name:
            factory: SignerFactory = point.load()
            return factory
    raise KeyError(f"unknown signer {name!r}: known signers are {', '.join(known_signers())} "
                   f"(a plugin registers one in the entry point group {SIGNER_GROUP})")


def make_signer(name: str, options: Mapping[str, Any]) -> Signer:
    """Build signer ``name`` from its options; ValueError in one line (no secret) if bad."""
    factory = load_signer(name)
    try:
        return factory(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"options.{location}: {first['msg']}" if location
                         else first["msg"]) from None
