"""The sandbox's OCI distribution API (``/v2/``) and image pulls onto nodes.

The registry authenticates with the platform's API keys: HTTP Basic with the
key as password (what ``docker login`` sends), or a bearer key.
"""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, StringConstraints

from pytest_sca.sandbox import schemas as S
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.deps import API, Caller
from pytest_sca.sandbox.errors import ApiError
from pytest_sca.sandbox.oci import DIGEST, MANIFEST_TYPES
from pytest_sca.sandbox.schemas import documented

_V2 = "/v2"


class ImagePull(BaseModel):
    """POST /nodes/{id}/image-pulls."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    mode: Literal["full", "lazy"] = "full"


class PullResult(S.Open):
    """What a pull transferred and how long it took."""

    seconds: float
    bytes_transferred: int
    image_bytes: int
    layers_cached: int


def _oci_error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="sca-sandbox"'} if status == 401 else None
    return JSONResponse({"errors": [{"code": code, "message": message}]}, status_code=status,
                        headers=headers)


def router(platform: SandboxPlatform) -> APIRouter:
    """The routes over ``platform``."""
    routes = APIRouter()
    registry = platform.registry
    uploads: dict[str, str] = {}

    def registry_user(request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        key = value
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(value).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
        elif scheme.lower() != "bearer":
            return None
        return platform.tenancy.authenticate(key) if key else None

    def guarded(request: Request) -> JSONResponse | None:
        if registry_user(request) is None:
            return _oci_error(401, "UNAUTHORIZED", "authentication required")
        return None

    def oci(call: Any) -> Response:
        try:
            answer: Response = call()
            return answer
        except ApiError as exc:
            code = {404: "MANIFEST_UNKNOWN", 400: "DIGEST_INVALID"}.get(exc.status, "UNKNOWN")
            return _oci_error(exc.status, code, exc.message)

    @routes.get(f"{_V2}/", include_in_schema=False)
    def base(request: Request) -> Response:
        return guarded(request) or JSONResponse({})

    @routes.get(f"{_V2}/_catalog", include_in_schema=False)
    def catalog(request: Request) -> Response:
        return guarded(request) or JSONResponse({"repositories": registry.repositories()})

    @routes.get(f"{_V2}/{{name:path}}/tags/list", include_in_schema=False)
    def tags(name: str, request: Request) -> Response:
        denied = guarded(request)
        if denied:
            return denied
        found = registry.tags(name)
        if not found:
            return _oci_error(404, "NAME_UNKNOWN", f"repository {name} unknown")
        return JSONResponse({"name": name, "tags": found})

    @routes.api_route(f"{_V2}/{{name:path}}/manifests/{{reference}}", methods=["GET", "HEAD"],
                      include_in_schema=False)
    def get_manifest(name: str, reference: str, request: Request) -> Response:
        def answer() -> Response:
            found = registry.manifest(name, reference)
            headers = {"Docker-Content-Digest": found["digest"]}
            body = b"" if request.method == "HEAD" else found["body"].encode()
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(found["body"].encode()))
            return Response(body, media_type=found["media_type"], headers=headers)
        return guarded(request) or oci(answer)

    @routes.put(f"{_V2}/{{name:path}}/manifests/{{reference}}", include_in_schema=False)
    async def put_manifest(name: str, reference: str, request: Request) -> Response:
        denied = guarded(request)
        if denied:
            return denied
        media_type = request.headers.get("content-type", MANIFEST_TYPES[0]).split(";")[0]
        body = await request.body()
        digest = registry.put_manifest(name, reference, body, media_type)
        return Response(status_code=201, headers={
            "Location": f"{_V2}/{name}/manifests/{digest}", "Docker-Content-Digest": digest})

    @routes.delete(f"{_V2}/{{name:path}}/manifests/{{reference}}", include_in_schema=False)
    def delete_manifest(name: str, reference: str, request: Request) -> Response:
        def answer() -> Response:
            if not DIGEST.match(reference):
                raise ApiError(400, "invalid_request", "delete by digest")
            registry.delete_manifest(name, reference)
            return Response(status_code=202)
        return guarded(request) or oci(answer)

    @routes.api_route(f"{_V2}/{{name:path}}/blobs/{{digest}}", methods=["GET", "HEAD"],
                      include_in_schema=False)
    def get_blob(name: str, digest: str, request: Request) -> Response:
        def answer() -> Response:
            data = registry.blob(digest)
            headers = {"Docker-Content-Digest": digest, "Content-Length": str(len(data))}
            return Response(b"" if request.method == "HEAD" else data,
                            media_type="application/octet-stream", headers=headers)
        return guarded(request) or oci(answer)

    @routes.post(f"{_V2}/{{name:path}}/blobs/uploads/", include_in_schema=False)
    async def start_upload(name: str, request: Request) -> Response:
        denied = guarded(request)
        if denied:
            return denied
        digest = request.query_params.get("digest")
        if digest:  # a monolithic upload in one POST
            body = await request.body()
            return oci(lambda: _finish(name, digest, body))
        upload = uuid.uuid4().hex
        uploads[upload] = name
        return Response(status_code=202, headers={
            "Location": f"{_V2}/{name}/blobs/uploads/{upload}", "Docker-Upload-UUID": upload,
            "Range": "0-0"})

    def _finish(name: str, digest: str, body: bytes) -> Response:
        registry.put_blob(digest, body)
        return Response(status_code=201, headers={
            "Location": f"{_V2}/{name}/blobs/{digest}", "Docker-Content-Digest": digest})

    @routes.put(f"{_V2}/{{name:path}}/blobs/uploads/{{upload}}", include_in_schema=False)
    async def finish_upload(name: str, upload: str, request: Request) -> Response:
        denied = guarded(request)
        if denied:
            return denied
        if uploads.pop(upload, None) != name:
            return _oci_error(404, "BLOB_UPLOAD_UNKNOWN", f"upload {upload} unknown")
        digest = request.query_params.get("digest", "")
        body = await request.body()
        return oci(lambda: _finish(name, digest, body))

    @routes.post(f"{API}/nodes/{{node_id}}/image-pulls", name="node.image_pull",
                 **documented(PullResult))
    def pull(node_id: str, body: ImagePull, who: Caller) -> dict[str, Any]:
        return registry.pull(who, node_id, body.image, body.mode)

    return routes


def target_adapters(api_url: str, platform: SandboxPlatform) -> dict[str, Any]:
    """The sandbox's registry as the target file's ``registry`` transport."""
    return {"registry": {"url": api_url, "username": "sca",
                         "password": "${SCA_SANDBOX_TOKEN}"}}
