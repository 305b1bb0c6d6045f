"""Configuration models of the built-in transports: the ``adapters:`` section of a target file.

Pure pydantic, no transport library imported here, so that validating a
target file (and exporting its JSON Schema) stays fast. Every model forbids
unknown keys: a typo in a target file is an error naming the field, never a
silently ignored setting.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pytest_sca.adapters.mapping import (
    MappingError,
    Template,
    TemplateFailure,
    check_pointer,
    validate_mapping,
)
from pytest_sca.adapters.signing import make_signer

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


def _credential_template(value: str) -> str:
    """A credential template may read ``{token}`` (the principal's credential) and
    ``{const.…}``; anything else is an error at load time."""
    try:
        names = Template(value).names()
    except TemplateFailure as exc:
        raise PydanticCustomError("invalid_template", "{detail}", {"detail": str(exc)}) from None
    unknown = sorted(names - {"token", "const"})
    if unknown:
        raise PydanticCustomError(
            "invalid_template", "{detail}",
            {"detail": f"{{{unknown[0]}}} is unknown here: a credential template reads "
                       "{token} (adapters.platform.token, or a user's key) and {const.NAME}"})
    return value


CredentialTemplate = Annotated[str, AfterValidator(_credential_template)]


class BearerAuth(StrictModel):
    """``Authorization: Bearer …`` (the default, with ``token``)."""

    type: Literal["bearer"]
    token: str | None = Field(default=None, description="default: adapters.platform.token")


class HeaderAuth(StrictModel):
    """Headers from templates, e.g. ``X-Auth-Token: "{token}"``."""

    type: Literal["header"]
    headers: dict[str, CredentialTemplate] = Field(
        min_length=1, description="header → template ({token}, {const.NAME})")


class BasicAuth(StrictModel):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: CredentialTemplate
    password: CredentialTemplate


class ApiKeyAuth(StrictModel):
    """An API key in a header or a query parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["api_key"]
    name: str = Field(min_length=1, description="header or query parameter name")
    value: CredentialTemplate = Field(default="{token}", description="template of the key")
    in_: Literal["header", "query"] = Field(default="header", alias="in")


class OAuth2Auth(StrictModel):
    """OAuth2 client-credentials token exchange; the token is sent as a bearer token."""

    type: Literal["oauth2"]
    token_url: str = Field(description="the token endpoint (https://…/oauth2/token)")
    client_id: str
    client_secret: str = Field(description="e.g. ${VENDOR_CLIENT_SECRET}")
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        default="basic", description="client credentials in a basic header, or in the form")
    extra: dict[str, str] = Field(default_factory=dict, description="more form fields")


class SignAuth(StrictModel):
    """A request signer (built in: hmac-sha256; plugins: entry points pytest_sca.signers)."""

    type: Literal["sign"]
    signer: str = Field(default="hmac-sha256", description="signer name")
    options: dict[str, Any] = Field(default_factory=dict, description="the signer's options")

    @model_validator(mode="after")
    def _signer_accepts(self) -> SignAuth:
        try:
            make_signer(self.signer, self.options)
        except KeyError as exc:
            raise PydanticCustomError("unknown_signer", "{detail}",
                                      {"detail": str(exc.args[0])}) from None
        except ValueError as exc:
            raise PydanticCustomError("invalid_signer", "{detail}",
                                      {"detail": str(exc)}) from None
        return self


#: One form of ``adapters.platform.auth``.
AuthForm = Annotated[
    BearerAuth | HeaderAuth | BasicAuth | ApiKeyAuth | OAuth2Auth | SignAuth,
    Field(discriminator="type"),
]


def _error_template(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        names = Template(value).names()
    except TemplateFailure as exc:
        raise PydanticCustomError("invalid_template", "{detail}", {"detail": str(exc)}) from None
    unknown = sorted(names - {"status", "answer", "header", "const"})
    if unknown:
        raise PydanticCustomError(
            "invalid_template", "{detail}",
            {"detail": f"{{{unknown[0]}}} is unknown here: an error rule reads {{status}}, "
                       "{answer} (the error body), {header} and {const.NAME}"})
    return value


class ErrorRule(StrictModel):
    """A vendor's error answer that means a refusal of another kind: e.g. slurmrestd's 500
    "Invalid job id specified" is the reference API's 404."""

    status: list[int] = Field(min_length=1, description="the vendor's statuses (>= 400)")
    when: Annotated[str | None, AfterValidator(_error_template)] = Field(
        default=None, description="condition on {status}, {answer}, {header}; none = always")
    refuse: int = Field(ge=400, le=499, description="the reference status it means")
    code: Annotated[str | None, AfterValidator(_error_template)] = Field(
        default=None, description="error code (template), e.g. not_found")
    message: Annotated[str | None, AfterValidator(_error_template)] = Field(
        default=None, description="message (template), e.g. {answer.errors[0].error}")

    @field_validator("status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class PlatformConfig(HttpEndpoint):
    """The platform's own REST API (the reference API, or a vendor's through ``mapping``)."""

    url: str = Field(description="base URL of the platform API, e.g. https://cloud.example/")
    token: str | None = Field(default=None, description="bearer token, e.g. ${MYCLOUD_TOKEN}")
    mapping: dict[str, Any] | None = Field(
        default=None, description="declarative mapping of a vendor API (see docs/mapping.md)"
    )
    auth: list[AuthForm] | None = Field(
        default=None,
        description="how requests authenticate (docs/mapping.md); none = bearer token")
    errors: list[ErrorRule] = Field(
        default_factory=list,
        description="vendor error answers that are refusals of another kind (docs/mapping.md)")
    constants: dict[str, Any] = Field(
        default_factory=dict, description="values the mapping's templates read as {const.NAME}")
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

    @field_validator("auth", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

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
    """An OpenAI-compatible inference endpoint."""

    base_url: str = Field(description="URL ending in /v1")
    api_key: str | None = None
    models: list[str] = Field(default_factory=list, description="model ids to check; none = all")


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
