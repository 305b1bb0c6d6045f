"""Configuration models of the built-in transports: the ``adapters:`` section of a target file.

Pure pydantic, no transport library imported here, so that validating a
target file (and exporting its JSON Schema) stays fast. Every model forbids
unknown keys: a typo in a target file is an error naming the field, never a
silently ignored setting.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from pytest_sca.adapters.mapping import MappingError, check_pointer, validate_mapping

#: A path on the machine that runs the evaluation: ``~`` is expanded when the file is loaded.
LocalPath = Annotated[str, AfterValidator(os.path.expanduser)]


class StrictModel(BaseModel):
    """A model that rejects unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpEndpoint(StrictModel):
    """Common settings of an HTTP(S) endpoint."""

    #: ``true`` (system CAs), ``false`` (never on a real platform), or a CA bundle path.
    verify: bool | LocalPath = Field(
        default=True, description="TLS verification: true, false, or the path of a CA bundle"
    )
    timeout: float = Field(default=30.0, gt=0, description="seconds for one request")


class PlatformConfig(HttpEndpoint):
    """The platform's own REST API (the reference API, or a vendor's through ``mapping``)."""

    url: str = Field(description="base URL of the platform API, e.g. https://cloud.example/")
    token: str | None = Field(default=None, description="bearer token, e.g. ${MYCLOUD_TOKEN}")
    mapping: dict[str, Any] | None = Field(
        default=None, description="declarative mapping of a vendor API (see docs/mapping.md)"
    )
    mapping_fallback: Literal["reference", "none"] = Field(
        default="reference",
        description="operations the mapping leaves out: use the reference route, or none",
    )
    error_code_pointer: str = Field(
        default="/error/code", description="JSON pointer of the error code in a 4xx body"
    )
    error_message_pointer: str = Field(
        default="/error/message", description="JSON pointer of the error message in a 4xx body"
    )
    retries: int = Field(
        default=2, ge=0, le=10, description="retries of a GET after a 5xx or connection failure"
    )
    probe_image: str | None = Field(
        default=None,
        description="image probe jobs run in (name:tag); none = the first preset image the "
                    "platform lists")

    @field_validator("mapping")
    @classmethod
    def _mapping_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        try:
            validate_mapping(value)
        except MappingError as exc:
            raise PydanticCustomError("invalid_mapping", "{detail}", {"detail": str(exc)}) from None
        return value

    @field_validator("error_code_pointer", "error_message_pointer")
    @classmethod
    def _is_pointer(cls, value: str) -> str:
        try:
            return check_pointer(value)
        except ValueError as exc:
            raise PydanticCustomError("invalid_pointer", "{detail}", {"detail": str(exc)}) from None


class KubernetesConfig(StrictModel):
    """A Kubernetes cluster reached with the official client."""

    kubeconfig: LocalPath | None = Field(
        default=None, description="kubeconfig path; none = default")
    context: str | None = None
    in_cluster: bool = False
    namespace_prefix: str = Field(
        default="sca-", description="prefix of namespaces the run creates")
    namespace: str | None = Field(
        default=None,
        description="namespace the probe workloads run in; none = one the run creates "
                    "(namespace_prefix + run id) and deletes at the end")
    probe_image: str = Field(
        default="python:3.12-slim",
        description="image the probe workloads run in (any image with Python 3)")
    vendor_resources: dict[str, str] = Field(
        default_factory=dict, description="extra extended resource name → vendor"
    )


class SshNode(StrictModel):
    """One node reachable over SSH."""

    name: str
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    key_file: LocalPath | None = None
    password: str | None = None


class SshConfig(StrictModel):
    """Bare-metal nodes over SSH (paramiko)."""

    nodes: list[SshNode] = Field(min_length=1)
    known_hosts: LocalPath | None = Field(default=None, description="known_hosts file to trust")
    strict_host_key_checking: bool = True
    jump_host: SshNode | None = None
    timeout: float = Field(default=30.0, gt=0)
    sshd_config: str = Field(
        default="/etc/ssh/sshd_config", description="sshd configuration file on the nodes")
    sshd_binary: str = Field(default="/usr/sbin/sshd", description="sshd, for `sshd -T`")
    system_paths: list[str] = Field(
        default_factory=lambda: ["/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib"],
        description="paths that must hold nothing world-writable")


class S3Credentials(StrictModel):
    """One tenant's object-storage credentials."""

    access_key: str
    secret_key: str
    bucket: str | None = None


class S3Config(StrictModel):
    """S3-compatible object storage (boto3)."""

    endpoint: str
    region: str = "us-east-1"
    access_key: str
    secret_key: str
    bucket: str | None = Field(
        default=None, description="bucket the run may write probe objects to")
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    verify: bool | LocalPath = True
    other_tenant: S3Credentials | None = Field(
        default=None, description="a second tenant's credentials, for isolation checks"
    )


class OpenAIConfig(HttpEndpoint):
    """An OpenAI-compatible API: inference, and whatever else of OpenAI's API the vendor
    serves (models, files, fine-tuning, usage); each endpoint is discovered by probing it."""

    base_url: str = Field(description="URL ending in /v1")
    api_key: str | None = None
    models: list[str] = Field(default_factory=list, description="model ids to check; none = all")
    other_key: str | None = Field(
        default=None,
        description="a second principal's API key (another user or project of the vendor): "
                    "isolation and usage-attribution checks act as it; none = those checks "
                    "are not assessed")
    admin_key: str | None = Field(
        default=None,
        description="a key allowed to read the organisation's usage (OpenAI: an admin key "
                    "for /organization/usage); none = api_key")
    console_url: str | None = Field(
        default=None, description="the vendor's web console (playground) page, for 7.4.a")
    openapi_url: str | None = Field(
        default=None,
        description="where the vendor publishes its OpenAPI document (URL), its paths relative "
                    "to base_url; none = the server's own /openapi.json, if it serves one")


class ComfyUIConfig(HttpEndpoint):
    """A ComfyUI (or ComfyUI-compatible) workflow service."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class PrometheusConfig(HttpEndpoint):
    """Prometheus HTTP API."""

    url: str
    token: str | None = None
    metric_names: dict[str, str] = Field(
        default_factory=dict, description="override of the metric-name table"
    )


class RegistryConfig(HttpEndpoint):
    """An OCI distribution registry."""

    url: str
    username: str | None = None
    password: str | None = None
    repository_prefix: str = "sca-probe"


#: transport key under ``adapters:`` → its configuration model.
BUILTIN_CONFIGS: dict[str, type[StrictModel]] = {
    "platform": PlatformConfig,
    "kubernetes": KubernetesConfig,
    "ssh": SshConfig,
    "s3": S3Config,
    "openai": OpenAIConfig,
    "comfyui": ComfyUIConfig,
    "prometheus": PrometheusConfig,
    "registry": RegistryConfig,
}
