"""The image registry over the OCI distribution API: catalogue, tags, probe push, timed pull.

Speaks ``/v2/`` with HTTP Basic credentials, and follows a registry's bearer-token
challenge (``WWW-Authenticate: Bearer realm=…``, as Harbor and token-auth distribution
answer) when one comes. The probe image is tiny and built here: one config blob, one
gzip'd tar layer holding a text file, one OCI manifest; nothing runs it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import time
from typing import Any, ClassVar

import requests

from pytest_sca.adapters.base import Adapter, AdapterContext, Facade, Finding
from pytest_sca.adapters.config import RegistryConfig
from pytest_sca.adapters.http import VerifyingSession
from pytest_sca.capabilities import (
    Image,
    Labels,
    PulledImage,
    PushedImage,
    Refused,
    TargetError,
)
from pytest_sca.cleanup import UndoAction

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
_ACCEPT = ", ".join((MANIFEST_TYPE, "application/vnd.docker.distribution.manifest.v2+json",
                     "application/vnd.oci.image.index.v1+json"))
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def probe_image(payload: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(manifest, [(digest, blob)]) of a one-layer image whose layer holds ``payload``."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("sca-probe.txt")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    diff_id = _digest(tar_bytes.getvalue())
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"sca-probe": "true"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": _digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    return manifest, [(_digest(config), config), (_digest(layer), layer)]


class RegistryAdapter(Adapter):
    """A registry reached over the OCI distribution API (Basic or bearer-token auth)."""

    transport: ClassVar[str] = "registry"
    config_model: ClassVar[type[RegistryConfig]] = RegistryConfig
    sweeps: ClassVar[frozenset[str]] = frozenset({"registry:manifests"})

    def __init__(self, config: RegistryConfig, context: AdapterContext) -> None:
        super().__init__(config, context)
        self.base = config.url.rstrip("/")
        self._session = VerifyingSession()
        self._session.verify = config.verify
        if config.username is not None and config.password is not None:
            self._session.auth = (config.username, config.password)
            context.redact.add([config.password])
        self._tokens: dict[str, str] = {}
        #: (repository, digest) of a manifest the run pushed → the undo that deletes it
        self.undo: dict[tuple[str, str], UndoAction] = {}

    # -- transport ----------------------------------------------------------------------

    def send(self, method: str, path: str, *, scope: str, ok: tuple[int, ...] = (200,),
             url: str | None = None, **kwargs: Any) -> requests.Response:
        """One request with the token of ``scope`` (fetched on a bearer challenge); an answer
        outside ``ok`` raises :class:`Refused` (4xx) or :class:`TargetError`."""
        headers = dict(kwargs.pop("headers", {}))
        for _attempt in range(2):
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            try:
                response = self._session.request(method, url or self.base + path,
                                                 headers=headers,
                                                 timeout=self.config.timeout, **kwargs)
            except requests.RequestException as exc:
                raise TargetError(f"{method} {self.base}{path}: {type(exc).__name__}") from None
            challenge = response.headers.get("WWW-Authenticate", "")
            if (response.status_code == 401 and challenge.lower().startswith("bearer")
                    and scope not in self._tokens):
                self._tokens[scope] = self._fetch_token(challenge, scope)
                continue
            break
        if response.status_code in ok:
            return response
        if 400 <= response.status_code < 500:
            raise Refused(f"{method} {path}", response.status_code, _error_code(response),
                          " ".join(response.text.split())[:160])
        raise TargetError(f"{method} {self.base}{path} answered {response.status_code}")

    def _fetch_token(self, challenge: str, scope: str) -> str:
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.get("realm")
        if not realm:
            raise TargetError(f"registry bearer challenge without a realm: {challenge[:120]}")
        params = {"service": fields.get("service", ""), "scope": scope}
        try:
            answer = self._session.get(realm, params=params, timeout=self.config.timeout)
            answer.raise_for_status()
            body = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise TargetError(f"registry token endpoint {realm}: {type(exc).__name__}") from None
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise TargetError(f"registry token endpoint {realm} answered no token")
        self.context.redact.add([token])
        return token

    def probe_repository(self, run_id: str, suffix: str) -> str:
        """The repository of a run's probe images: under the prefix, named by the run id."""
        clean = re.sub(r"[^a-z0-9._-]+", "-", f"{run_id}-{suffix}".lower())
        return f"{self.config.repository_prefix}/{clean}".strip("/")

    def sweep(self, run_id: str) -> list[str]:
        """Delete every manifest of the run's probe repositories."""
        failures: list[str] = []
        mine = self.probe_repository(run_id, "")
        registry = OciRegistry(self)
        try:
            repositories = [r for r in registry.catalog() if r.startswith(mine)]
        except (Refused, TargetError) as exc:
            return [f"catalogue: {exc}"]
        for repository in repositories:
            try:
                for tag in registry.tags(repository):
                    response = self.send("HEAD", f"/v2/{repository}/manifests/{tag}",
                                         scope=f"repository:{repository}:pull",
                                         headers={"Accept": _ACCEPT})
                    digest = response.headers.get("Docker-Content-Digest")
                    if digest:
                        registry.delete(repository, digest)
            except (Refused, TargetError) as exc:
                failures.append(f"{repository}: {exc}")
        return failures

    def probe(self, timeout: float) -> list[Finding]:
        """Doctor: ``GET /v2/`` answers 200 with the credentials (after a bearer token
        exchange when the registry asks for one)."""
        try:
            response = self._session.get(self.base + "/v2/", timeout=timeout)
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code == 401 and challenge.lower().startswith("bearer"):
                token = self._fetch_token(challenge, "registry:catalog:*")
                response = self._session.get(self.base + "/v2/", timeout=timeout,
                                             headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            return [Finding("reachable", "fail", f"GET {self.base}/v2/: {type(exc).__name__}")]
        except TargetError as exc:
            return [Finding("credentials", "fail", str(exc))]
        if response.status_code == 401:
            return [Finding("credentials", "fail", "GET /v2/: refused 401: check username "
                            "and password")]
        if response.status_code != 200:
            return [Finding("api", "fail", f"GET /v2/ answered {response.status_code}: not "
                            "an OCI distribution API")]
        version = response.headers.get("Docker-Distribution-API-Version", "registry/2.0")
        return [Finding("api", "ok", f"OCI distribution API ({version}), credentials "
                        "accepted" if self.config.username else
                        f"OCI distribution API ({version}), anonymous")]

    def close(self) -> None:
        self._session.close()


def _error_code(response: requests.Response) -> str | None:
    """The first code of an OCI error body (``{"errors": [{"code", "message"}]}``)."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return None
    return str(errors[0].get("code")) if errors and isinstance(errors[0], dict) else None


class OciRegistry(Facade[RegistryAdapter]):
    """:class:`~pytest_sca.capabilities.Registry` over the OCI distribution API."""

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.subject.send(method, path, **kwargs)

    def catalog(self) -> list[str]:
        response = self._send("GET", "/v2/_catalog", scope="registry:catalog:*")
        return list(response.json().get("repositories") or [])

    def tags(self, repository: str) -> list[str]:
        try:
            response = self._send("GET", f"/v2/{repository}/tags/list",
                                  scope=f"repository:{repository}:pull")
        except Refused as exc:
            if exc.status == 404:
                return []
            raise
        return list(response.json().get("tags") or [])

    def probe_repository(self, suffix: str) -> str:
        return self.subject.probe_repository(self.subject.context.run_id, suffix)

    def push_probe_image(self, repository: str, tag: str, payload: bytes = b"sca-probe\n"
                         ) -> PushedImage:
        scope = f"repository:{repository}:pull,push"
        manifest, blobs = probe_image(payload)
        started = time.monotonic()
        for digest, blob in blobs:
            try:
                self._send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope)
                continue
            except Refused:
                pass
            upload = self._send("POST", f"/v2/{repository}/blobs/uploads/", scope=scope,
                                ok=(202,))
            location = upload.headers.get("Location", "")
            if location.startswith("/"):
                location = self.subject.base + location
            separator = "&" if "?" in location else "?"
            self._send("PUT", f"/v2/{repository}/blobs/uploads/…", scope=scope, ok=(201,),
                       url=f"{location}{separator}digest={digest}", data=blob,
                       headers={"Content-Type": "application/octet-stream"})
        answer = self._send("PUT", f"/v2/{repository}/manifests/{tag}", scope=scope,
                            ok=(201,), data=manifest, headers={"Content-Type": MANIFEST_TYPE})
        pushed: PushedImage = {
            "repository": repository, "tag": tag,
            "digest": answer.headers.get("Docker-Content-Digest") or _digest(manifest),
            "bytes": len(manifest) + sum(len(b) for _, b in blobs),
            "seconds": round(time.monotonic() - started, 6)}
        digest = pushed["digest"]
        self.subject.undo[(repository, digest)] = self.subject.context.created(
            "registry:manifests", f"delete {repository}@{digest}",
            lambda: self._delete_quietly(repository, digest))
        return pushed

    def pull(self, repository: str, reference: str) -> PulledImage:
        scope = f"repository:{repository}:pull"
        started = time.monotonic()
        response = self._send("GET", f"/v2/{repository}/manifests/{reference}", scope=scope,
                              headers={"Accept": _ACCEPT})
        manifest = response.content
        document = json.loads(manifest)
        total = len(manifest)
        for entry in [document.get("config"), *document.get("layers", [])]:
            if not entry:
                continue
            blob = self._send("GET", f"/v2/{repository}/blobs/{entry['digest']}",
                              scope=scope).content
            if _digest(blob) != entry["digest"]:
                raise TargetError(f"blob {entry['digest']} of {repository} has other content")
            total += len(blob)
        return {"digest": response.headers.get("Docker-Content-Digest") or _digest(manifest),
                "bytes": total, "seconds": round(time.monotonic() - started, 6)}

    def exists(self, repository: str, reference: str) -> bool:
        try:
            self._send("HEAD", f"/v2/{repository}/manifests/{reference}",
                       scope=f"repository:{repository}:pull", headers={"Accept": _ACCEPT})
        except Refused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete(self, repository: str, digest: str) -> None:
        self._send("DELETE", f"/v2/{repository}/manifests/{digest}",
                          scope=f"repository:{repository}:delete", ok=(202, 200))
        action = self.subject.undo.pop((repository, digest), None)
        if action is not None:
            action.cancel()

    def _delete_quietly(self, repository: str, digest: str) -> None:
        try:
            self.delete(repository, digest)
        except Refused as refusal:
            if refusal.status != 404:
                raise


#: Repository names (last path segment, as in ``library/pytorch``) → the framework their
#: images carry; a tag names the framework version (``2.4.1-cuda12.1`` → ``2.4.1``).
FRAMEWORK_REPOSITORIES: dict[str, str] = {
    "pytorch": "pytorch", "torch": "pytorch", "tensorflow": "tensorflow", "jax": "jax",
    "paddle": "paddlepaddle", "paddlepaddle": "paddlepaddle", "mindspore": "mindspore",
    "mxnet": "mxnet", "vllm": "vllm", "vllm-openai": "vllm", "triton": "triton",
    "tritonserver": "triton", "deepspeed": "deepspeed", "megatron": "megatron",
}
_VERSION = re.compile(r"^v?(\d+(?:\.\d+)+)")


class OciImages(Facade[RegistryAdapter]):
    """:class:`~pytest_sca.capabilities.Images` over the registry's catalogue: every tag of
    every repository is an image; those outside the run's probe repositories are the
    platform's preset images, their framework read from the repository name
    (:data:`FRAMEWORK_REPOSITORIES`) and its version from the tag. Creating an image pushes
    the probe image under the run's prefix."""

    def list_images(self) -> list[Image]:
        registry = OciRegistry(self.subject)
        mine = self.subject.probe_repository(self.subject.context.run_id, "")
        images: list[Image] = []
        for repository in registry.catalog():
            framework = FRAMEWORK_REPOSITORIES.get(repository.rsplit("/", 1)[-1].lower())
            for tag in registry.tags(repository):
                version = _VERSION.match(tag)
                images.append({"id": f"{repository}:{tag}", "name": repository, "tag": tag,
                               "framework": framework,
                               "framework_version": version.group(1) if version else None,
                               "preset": not repository.startswith(mine), "labels": {}})
        return images

    def create_image(self, name: str, tag: str, *, framework: str | None = None,
                     labels: Labels | None = None) -> Image:
        registry = OciRegistry(self.subject)
        repository = registry.probe_repository(name)
        pushed = registry.push_probe_image(repository, tag)
        return {"id": f"{repository}:{tag}", "name": repository, "tag": tag,
                "framework": framework, "framework_version": None, "preset": False,
                "size_bytes": pushed["bytes"], "labels": dict(labels or {})}

    def delete_image(self, image_id: str) -> None:
        registry = OciRegistry(self.subject)
        repository, _, tag = image_id.rpartition(":")
        pulled = registry.pull(repository, tag)
        registry.delete(repository, pulled["digest"])


#: The registry adapter's capabilities (set here: each implementation needs the class).
RegistryAdapter.implementations = {"registry": OciRegistry, "images": OciImages}
