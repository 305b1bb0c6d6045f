"""Configuration models of the built-in transports: the ``adapters:`` section of a target file.

Pure pydantic, no transport library imported here, so that validating a
target file (and exporting its JSON Schema) stays fast. Every model forbids
unknown keys: a typo in a target file is an error naming the field, never a
silently ignored setting.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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

#: The longest a single request may take, in seconds: a longer "timeout" is a typo.
MAX_TIMEOUT_S = 3600.0


def _existing_file(path: str) -> str:
    if not os.path.isfile(path):
        raise PydanticCustomError("missing_file", "no such file {path}: give the path of an "
                                  "existing file", {"path": path})
    return path


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace()
                                                                          for c in url):
        raise PydanticCustomError("http_url", "{url!r} is not an http(s) URL: write it as "
                                  "https://host[:port]/path", {"url": url})
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise PydanticCustomError("http_url", "{url!r} has a port out of range (1–65535)",
                                  {"url": url}) from None
    return url


#: A path on the machine that runs the evaluation: ``~`` is expanded when the file is loaded.
LocalPath = Annotated[str, AfterValidator(os.path.expanduser)]
#: A file on the machine that runs the evaluation, which must exist (``~`` expanded).
LocalFile = Annotated[str, AfterValidator(os.path.expanduser), AfterValidator(_existing_file)]
#: The URL of an HTTP(S) endpoint.
HttpUrl = Annotated[str, AfterValidator(_http_url)]
#: A credential: when given, never empty (an unset variable must not pass for one).
Secret = Annotated[str, Field(min_length=1)]
#: Seconds one request (or one connection) may take: finite, positive, at most an hour.
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)]


class StrictModel(BaseModel):
    """A model that rejects unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpEndpoint(StrictModel):
    """Common settings of an HTTP(S) endpoint."""

    #: ``true`` (system CAs), ``false`` (never on a real platform), or a CA bundle path.
    verify: bool | LocalFile = Field(
        default=True, description="TLS verification: true, false, or the path of a CA bundle"
    )
    timeout: Timeout = Field(default=30.0, description="seconds for one request")


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

    url: HttpUrl = Field(description="base URL of the platform API, e.g. https://cloud.example/")
    token: Secret | None = Field(default=None, description="bearer token, e.g. ${MYCLOUD_TOKEN}")
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


#: ``<namespace>/[scheme:]<service>[:port]``: a Service as the API server's service proxy
#: names it (``/api/v1/namespaces/<namespace>/services/[scheme:]<service>[:port]/proxy``).
SERVICE_PATTERN = r"^[a-z0-9-]+/(https?:)?[a-z0-9-]+(:[A-Za-z0-9-]*)?$"


def _service_ref(value: str) -> str:
    if not re.fullmatch(SERVICE_PATTERN, value):
        raise PydanticCustomError(
            "service_ref", "write the Service as <namespace>/[scheme:]<service>[:port] "
            "(e.g. monitoring/prometheus-k8s:web), not '{value}'", {"value": value})
    return value


#: A Service of the cluster, reached through the API server's service proxy.
ServiceRef = Annotated[str, AfterValidator(_service_ref),
                      Field(json_schema_extra={"pattern": SERVICE_PATTERN})]


def _class_ref(value: str) -> str:
    namespace, _, name = value.rpartition("/")
    label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    if not re.fullmatch(rf"{label}(\.{label})*", name) or (
            namespace and not re.fullmatch(label, namespace)):
        raise PydanticCustomError(
            "class_ref", "write a ClusterClass as [<namespace>/]<name> "
            "(e.g. capi-classes/quick-start), not '{value}'", {"value": value})
    return value


ClassRef = Annotated[str, AfterValidator(_class_ref)]


class KubernetesConfig(StrictModel):
    """A Kubernetes cluster reached with the official client."""

    kubeconfig: LocalFile | None = Field(
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
    cluster_queue: str = Field(
        default="sca-cluster-queue",
        description="Kueue ClusterQueue the run's LocalQueues point at (created by the "
                    "platform's operator, with the flavors and quotas it grants)")
    queue_jobs: bool = Field(
        default=True,
        description="where the cluster serves a batch scheduler (batch_scheduler), submit every "
                    "probe job through it: a Kueue LocalQueue of the run (admitted whole, within "
                    "the ClusterQueue's quota), or a Volcano Job (vcjob) whose minAvailable is "
                    "its workers (gang)")
    batch_scheduler: Literal["auto", "kueue", "volcano"] = Field(
        default="auto",
        description="what queues jobs and admits gangs: auto = Kueue where the cluster serves "
                    "kueue.x-k8s.io, else Volcano where it serves batch.volcano.sh and "
                    "scheduling.volcano.sh, else none (6.5.b not assessed); kueue or volcano "
                    "= that one only (not served: not assessed)")
    volcano_queue: str | None = Field(
        default=None,
        description="Volcano: the Queue (scheduling.volcano.sh/v1beta1, Open) the run's vcjobs "
                    "go to, created by the platform's operator; none = the run creates one per "
                    "queue name (sca-<run id>-<queue>, weight 1) and deletes it at the end")
    training_runtime: str = Field(
        default="torch-distributed",
        description="Kubeflow Trainer ClusterTrainingRuntime a TrainJob runs with")
    serving_runtime: str | None = Field(
        default=None,
        description="KServe ServingRuntime of deployed models; none = KServe picks by format")
    model_format: str = Field(
        default="huggingface", description="KServe model format of imported models")
    storage_class: str | None = Field(
        default=None,
        description="StorageClass of the claims the run creates (ReadWriteMany for "
                    "checkpoints); none = the cluster's default")
    console_service: ServiceRef | None = Field(
        default=None,
        description="the web console as <namespace>/[scheme:]<service>[:port] (the "
                    "Kubernetes Dashboard: kubernetes-dashboard/https:kubernetes-dashboard:), "
                    "reached through the API server's service proxy; none = no console")
    prometheus_service: ServiceRef | None = Field(
        default=None,
        description="the cluster's Prometheus as <namespace>/[scheme:]<service>[:port] "
                    "(kube-prometheus: monitoring/prometheus-k8s:web), reached through the API "
                    "server's service proxy: a job's cAdvisor series (7.2.e) and the card "
                    "exporters' series (9.4.2.d); none = neither")
    comfyui_service: ServiceRef | None = Field(
        default=None,
        description="the platform's in-cluster ComfyUI as <namespace>/[scheme:]<service>[:port] "
                    "(e.g. comfyui/comfyui:8188), reached through the API server's service "
                    "proxy: the ComfyUI workflow API (8.7.a-d); none = not assessed")
    audit_log: LocalFile | None = Field(
        default=None,
        description="the API server's audit log (JSON lines of audit.k8s.io/v1 Events, "
                    "--audit-log-path), copied or mounted where the run can read it")
    dra_topology_attribute: str = Field(
        default="resource.kubernetes.io/pcieRoot",
        description="the DRA device attribute (<domain>/<name>) that places a card in its "
                    "topology group: a multi-card job's claim asks for devices sharing it "
                    "(matchAttribute) and 6.5.c compares it across the devices the job got; "
                    "Kubernetes' standard PCIe root, or resource.kubernetes.io/numaNode, or "
                    "a driver's own NVLink/NUMA attribute")

    cluster_classes: dict[Literal["baremetal", "container"], ClassRef] = Field(
        default_factory=dict,
        description="Cluster API: the ClusterClass each kind of cluster is created from, as "
                    "[<namespace>/]<name> (none = the probe tenant's namespace), e.g. "
                    "baremetal: capi-classes/metal3-example (Metal3, bare-metal hosts), "
                    "container: capi-classes/quick-start; a kind without one is not assessed, "
                    "none at all leaves `clusters` to the next adapter that provides it")
    cluster_worker_classes: dict[Literal["baremetal", "container"], str] = Field(
        default_factory=dict,
        description="Cluster API: the worker MachineDeployment class (of the ClusterClass) a "
                    "cluster's nodes are created from, by kind; none = the ClusterClass's first "
                    "spec.workers.machineDeployments[].class")
    cluster_version: str = Field(
        default="v1.31.0",
        description="Cluster API: the Kubernetes version of the clusters the run creates "
                    "(spec.topology.version; one the ClusterClass's machine images offer)")

    @field_validator("dra_topology_attribute")
    @classmethod
    def _fully_qualified(cls, value: str) -> str:
        # DeviceConstraint.matchAttribute "must include the domain qualifier": a DNS subdomain,
        # a slash, a C identifier (k8s.io/api resource/v1 types.go, QualifiedName).
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?/[A-Za-z_][A-Za-z0-9_]{0,31}",
                            value):
            raise PydanticCustomError(
                "dra_attribute", "write a fully qualified DRA attribute name, <domain>/<name> "
                "(e.g. resource.kubernetes.io/pcieRoot), not '{value}'", {"value": value})
        return value


class SshNode(StrictModel):
    """One node reachable over SSH."""

    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(default="root", min_length=1)
    key_file: LocalFile | None = None
    password: Secret | None = None


class SshConfig(StrictModel):
    """Bare-metal nodes over SSH (paramiko)."""

    nodes: list[SshNode] = Field(min_length=1)
    known_hosts: LocalFile | None = Field(default=None, description="known_hosts file to trust")
    strict_host_key_checking: bool = True
    jump_host: SshNode | None = None
    timeout: Timeout = 30.0
    sshd_config: str = Field(
        default="/etc/ssh/sshd_config", description="sshd configuration file on the nodes")
    sshd_binary: str = Field(default="/usr/sbin/sshd", description="sshd, for `sshd -T`")
    system_paths: list[str] = Field(
        default_factory=lambda: ["/etc", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib"],
        description="paths that must hold nothing world-writable")


class S3Credentials(StrictModel):
    """One tenant's object-storage credentials."""

    access_key: Secret
    secret_key: Secret
    bucket: str | None = None


class S3Config(StrictModel):
    """S3-compatible object storage (boto3)."""

    endpoint: HttpUrl
    region: str = "us-east-1"
    access_key: Secret
    secret_key: Secret
    bucket: str | None = Field(
        default=None, description="bucket the run may write probe objects to")
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    verify: bool | LocalFile = True
    timeout: Timeout = Field(default=30.0, description="seconds for one request (connect "
                             "at most 10 of them)")
    other_tenant: S3Credentials | None = Field(
        default=None, description="a second tenant's credentials, for isolation checks"
    )


class OpenAIConfig(HttpEndpoint):
    """An OpenAI-compatible API: inference, and whatever else of OpenAI's API the vendor
    serves (models, files, fine-tuning, usage); each endpoint is discovered by probing it."""

    base_url: HttpUrl = Field(description="URL ending in /v1")
    api_key: Secret | None = None
    models: list[str] = Field(default_factory=list, description="model ids to check; none = all")
    other_key: str | None = Field(
        default=None,
        description="a second principal's API key (another user or project of the vendor): "
                    "isolation and usage-attribution checks act as it; none = those checks "
                    "are not assessed")
    other_user_id: str | None = Field(
        default=None,
        description="the user id the usage API counts other_key's calls under (OpenAI: the "
                    "key owner's user-… id); with other_key, the usage items act as that "
                    "user; none = they need the platform's tenancy")
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

    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict)


class PrometheusConfig(HttpEndpoint):
    """Prometheus HTTP API."""

    url: HttpUrl
    token: Secret | None = None
    metric_names: dict[str, str] = Field(
        default_factory=dict, description="override of the metric-name table"
    )


class RegistryConfig(HttpEndpoint):
    """An OCI distribution registry."""

    url: HttpUrl
    username: str | None = None
    password: Secret | None = None
    repository_prefix: str = "sca-probe"



class SlurmLogin(StrictModel):
    """The login node the Slurm adapter reaches over SSH (paramiko), for what slurmrestd does
    not serve: job output files, ``scontrol`` (tokens, requeue, hold) and ``sacctmgr``."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(default="root", description="root or SlurmUser: `scontrol token "
                                                  "username=…` mints probe users' tokens")
    key_file: LocalPath | None = None
    password: str | None = None
    known_hosts: LocalPath | None = Field(default=None, description="known_hosts file to trust")
    strict_host_key_checking: bool = True
    slurm_conf: str | None = Field(
        default=None, description="slurm.conf on the login node when not the default")


class SlurmConfig(HttpEndpoint):
    """A Slurm cluster: slurmrestd (JWT) for the scheduler and slurmdbd, SSH to a login node
    for files and the commands the REST API of a version lacks (docs/slurm.md)."""

    url: str = Field(description="slurmrestd base URL, e.g. https://slurm.example.cn:6820/")
    user: str = Field(description="X-SLURM-USER-NAME: the evaluation's Slurm user "
                                  "(an operator or administrator)")
    token: str = Field(description="X-SLURM-USER-TOKEN: that user's JWT, e.g. ${SLURM_JWT}")
    api_version: str | None = Field(
        default=None, description="pin an OpenAPI plugin (v0.0.38…); none = the highest the "
                                  "cluster and the adapter both know")
    login: SlurmLogin | None = Field(
        default=None, description="SSH login node; without it no job logs, no probe users, "
                                  "no quota changes")
    output_dir: str | None = Field(
        default=None, description="directory on the cluster's shared file system, writable "
                                  "by the probe users, where job scripts write their output")
    account: str | None = Field(
        default=None, description="account the principal's probe jobs run under; none = its "
                                  "default account")
    partition: str | None = Field(
        default=None, description="partition probe jobs go to when a request names none; "
                                  "none = the cluster's default")
    parent_account: str = Field(
        default="root", description="parent of the probe tenants' accounts the run creates")
    probe_users: list[str] = Field(
        default_factory=list,
        description="Unix accounts (known on every node) the run hands to the probe tenants' "
                    "users it creates; none = tenants get no users")
    qos: list[str] | None = Field(
        default=None, description="QOS the probe tenants may use; none = every QOS")
    python: str = Field(default="python3",
                        description="the nodes' Python for probe commands that say `python`")
    time_limit_min: int = Field(default=30, ge=1, description="time limit of a probe job")
    token_lifespan_s: int = Field(default=7200, ge=60,
                                  description="lifetime of the probe users' tokens")
    accelerator_gres: list[str] = Field(
        default_factory=lambda: ["gpu", "npu", "mlu", "dcu", "xpu"],
        description="GRES names that are accelerator cards")
    vendor_models: dict[str, str] = Field(
        default_factory=dict,
        description="GRES type (or prefix ending in *) → vendor, beyond the built-in table")

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
    "slurm": SlurmConfig,
}
