"""The sandbox's object store: moto's S3 server on loopback, one bucket per tenant.

moto checks no request signatures in its default mode, so any key pair is
accepted and tenant isolation is not enforced for S3 yet: each tenant gets
its own bucket and key pair, but another tenant's keys can read it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
import threading
from typing import Any

_ACCESS_KEY_CHARS = string.ascii_uppercase + string.digits


def new_s3_credentials() -> tuple[str, str]:
    """A fresh (access key, secret key) pair in AWS's format."""
    access = "AKIA" + "".join(secrets.choice(_ACCESS_KEY_CHARS) for _ in range(16))
    return access, secrets.token_urlsafe(30)[:40]


class ObjectStorage:
    """A moto S3 server in a thread, and the buckets the platform's tenants own."""

    region = "us-east-1"

    def __init__(self) -> None:
        self._server: Any = None
        self._client: Any = None
        self._lock = threading.Lock()
        self.endpoint = ""

    def start(self) -> None:
        """Start the server on 127.0.0.1, port chosen by the kernel."""
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request to stderr; the sandbox's stderr is for problems.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop the server thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _s3(self) -> Any:
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
            return self._client

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists (moto keeps nothing across restarts)."""
        client = self._s3()
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - botocore's ClientError for 404, re-created below
            client.create_bucket(Bucket=bucket)

    def remove_bucket(self, bucket: str) -> None:
        """Delete ``bucket`` and its objects; a missing bucket is fine."""
        client = self._s3()
        with contextlib.suppress(Exception):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
            client.delete_bucket(Bucket=bucket)
