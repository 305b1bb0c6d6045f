"""The sandbox's object store: moto's S3 server on loopback, one bucket per tenant.

moto checks no request signatures, so it must not be reachable but through the S3 gateway
(``s3_gateway.py``), which checks signatures and tenancy: moto's server here answers only
requests carrying a secret header that the gateway (and this module's admin client) send;
anything else on its loopback port gets 403.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
import threading
from typing import Any

_ACCESS_KEY_CHARS = string.ascii_uppercase + string.digits
#: The header whose secret value moto's server requires (the gateway sends it).
BACKEND_KEY_HEADER = "X-Sca-Backend-Key"


def new_s3_credentials() -> tuple[str, str]:
    """A fresh (access key, secret key) pair in AWS's format."""
    access = "AKIA" + "".join(secrets.choice(_ACCESS_KEY_CHARS) for _ in range(16))
    return access, secrets.token_urlsafe(30)[:40]


class ObjectStorage:
    """A moto S3 server in a thread, and the buckets the platform's tenants own."""

    region = "us-east-1"

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._lock = threading.Lock()
        self.endpoint = ""
        #: Where tenants and the platform's jobs reach the store: the gateway's internal
        #: endpoint once it runs (moto's own ``endpoint`` answers only the gateway).
        self.tenant_endpoint = ""
        #: What moto's server requires in :data:`BACKEND_KEY_HEADER`.
        self.backend_key = secrets.token_urlsafe(24)

    def start(self) -> None:
        """Start the server on 127.0.0.1, port chosen by the kernel."""
        from moto.moto_server import werkzeug_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        # moto 5.2.5 keeps underscored S3 metadata headers with its own handler; older
        # releases have none and werkzeug's serves the same S3 calls.
        handler: type[WSGIRequestHandler]
        try:
            from moto.moto_server.werkzeug_app import MotoRequestHandler as handler
        except ImportError:
            handler = WSGIRequestHandler

        # werkzeug logs every request to stderr; the sandbox's stderr is for problems.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = _require_header(
            werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app),
            self.backend_key)
        self._server = make_server("127.0.0.1", 0, app, threaded=True,
                                   request_handler=handler)
        # A short poll: shutdown() waits up to one poll interval (werkzeug's default 0.5 s,
        # at the end of every run).
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="sandbox-moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop the server thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def client(self) -> Any:
        """The object store's own boto3 client (the platform's, not a tenant's)."""
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id="sandbox-admin",
                    aws_secret_access_key="sandbox-admin",  # noqa: S106 - moto checks no keys
                )
                key = self.backend_key

                def add_backend_key(request: Any, **_: Any) -> None:
                    request.headers[BACKEND_KEY_HEADER] = key

                self._client.meta.events.register("before-send.s3", add_backend_key)
            return self._client

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists (moto keeps nothing across restarts)."""
        client = self.client()
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - botocore's ClientError for 404, re-created below
            client.create_bucket(Bucket=bucket)

    def remove_bucket(self, bucket: str) -> None:
        """Delete ``bucket`` and its objects; a missing bucket is fine."""
        client = self.client()
        with contextlib.suppress(Exception):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            client.delete_bucket(Bucket=bucket)


def _require_header(app: Any, key: str) -> Any:
    """The WSGI ``app``, answering 403 to any request without the backend key."""
    environ_key = "HTTP_" + BACKEND_KEY_HEADER.upper().replace("-", "_")

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if not secrets.compare_digest(str(environ.get(environ_key, "")), key):
            body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                    b"<Message>the object store is reached through the S3 gateway only"
                    b"</Message></Error>")
            start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                              ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return guarded
