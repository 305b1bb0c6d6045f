"""Faults of platform security: node hardening, data protection, MFA, assets, transport, S3."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "root_password_login": "SSH nodes let root log in with a password (PermitRootLogin yes)",
    "world_writable_system_file": "a system file on the SSH nodes is writable by every user",
    "masking_off": "the masked view of a dataset shows personal data in clear",
    "mfa_not_enforced": "console logins succeed without a second factor although MFA is required",
    "asset_risk_not_assessed": "the asset inventory gives every asset the risk status unknown",
    "tls_legacy_enabled": "the API and S3 endpoints also accept TLS 1.0 and 1.1 handshakes",
    "plain_http_open": "the API and S3 endpoints are served over plain HTTP, without TLS",
    "sse_disabled": "tenant buckets have no default encryption: objects are stored unencrypted",
    "public_bucket": "tenant buckets carry a public-read bucket policy (anonymous GetObject)",
}
