"""The ``capabilities:`` section of a target file as typed settings, with their defaults.

What a platform declares about itself (its peaks, its compute device, its network isolation)
and the thresholds the checks compare their measurements with. Every field has its default
and its meaning here, and only here: a check reads ``sca.settings.perf.availability.seconds``
or ``sca.threshold("perf.availability.min_success_ratio")``, never a path with its own default.
Unknown keys are rejected when the target file is loaded (``pytest_sca.target``), so a typo
is an error naming the nearest valid field, not a silently ignored setting.

No suite, sandbox or transport is imported here: validating a target file stays fast.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonDict


@dataclass(frozen=True)
class Threshold:
    """A threshold and where it came from (the target file, or the documented default)."""

    value: float
    source: str


def setting(default: Any = None, description: str = "", *, unit: str | None = None,
            **constraints: Any) -> Any:
    """A settings field: its default, what it means and, for a quantity, its unit."""
    extra: JsonDict | None = {"unit": unit} if unit else None
    return Field(default, description=description, json_schema_extra=extra, **constraints)


def section(model: type[BaseModel], description: str) -> Any:
    """A nested group of settings; absent from the file, it holds its fields' defaults."""
    return Field(default_factory=model, description=description)


class Settings(BaseModel):
    """A group of settings: unknown keys are rejected, values are fixed once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- perf: chapter 9 ---------------------------------------------------------------------------


class CpuSettings(Settings):
    """The CPU a CPU-only target is measured on."""

    peak_gflops: float | None = setting(
        None, "fp32 peak of one node's CPU; none: cores × clock × FLOPs per cycle from the "
              "probe's CPU flags", unit="GFLOP/s", gt=0)
    cores: int | None = setting(
        None, "cores the declared peak covers; a figure measured on fewer cores is compared "
              "with that share of the peak", unit="cores", ge=1)
    source: str = setting("", "where the declared peak comes from (datasheet, measurement); "
                              "shown with it")


class OperatorSettings(Settings):
    """9.1: operator throughput."""

    min_efficiency: float = setting(
        0.5, "least share of the peak the best matmul must reach (9.1.a)", unit="ratio",
        ge=0, le=1)


class TrainingPerfSettings(Settings):
    """9.2: training throughput and jitter of the training probe."""

    min_hfu: float = setting(
        0.3, "least hardware FLOPs utilisation of each model the training probe trains "
             "(9.2.a)", unit="ratio", ge=0, le=1)
    max_step_cv: float = setting(
        0.1, "largest coefficient of variation of step times (9.2.b)", unit="ratio", ge=0)
    chip: str = setting(
        "", "accelerator model whose bf16 peak (perf.peaks, else the published table) HFU "
            "divides by; empty: 9.2.a on an accelerator is not_assessed")
    steps_per_epoch: int = setting(
        12, "steps per epoch of the HFU run (9.2.a)", unit="steps", ge=1)
    batch: int = setting(512, "batch size of the HFU run (9.2.a)", unit="samples", ge=1)
    jitter_batch: int = setting(
        1024, "batch size of the jitter run (9.2.b)", unit="samples", ge=1)


def _has_one(ks: list[int]) -> list[int]:
    if 1 not in ks:
        raise ValueError("speedups are relative to k = 1: include 1")
    return ks


class ScalingSettings(Settings):
    """9.3.a: parallel sub-tasks."""

    k: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1),
                 AfterValidator(_has_one)] = setting(
        [1, 2, 4], "numbers of identical sub-tasks run at once; must include 1",
        unit="sub-tasks")
    min_efficiency: float = setting(
        0.7, "least parallel efficiency S(k)/k at the largest k", unit="ratio", ge=0)
    work: Literal["compute", "paced"] = setting(
        "compute", "what a sub-task does: fp32 GEMMs on the CPU (compute), or the paced steps "
                   "of a simulated accelerator (paced)")


class SchedulingPerfSettings(Settings):
    """9.3.b: scheduling performance."""

    min_utilisation: float = setting(
        0.7, "least card utilisation of a busy probe job, read from the platform's metrics",
        unit="ratio", ge=0, le=1)
    max_startup_p99_s: float = setting(
        60.0, "largest p99 of job start-up latency (created → started)", unit="s", gt=0)
    min_speedup: float = setting(
        1.5, "least speedup S(2) of the data-parallel training probe on 2 cards over 1 (2 "
             "workers over 1 on a CPU target): parallel efficiency 0.75", unit="x", ge=0)


class DiagnosisSettings(Settings):
    """9.4.1.a: fault diagnosis."""

    max_seconds: float = setting(
        60.0, "longest time a diagnosis of each layer may take", unit="s", gt=0)


class AvailabilitySettings(Settings):
    """9.4.2.a: the management API under steady load."""

    min_success_ratio: float = setting(
        0.999, "least share of requests answered successfully", unit="ratio", ge=0, le=1)
    seconds: float = setting(10.0, "how long the load lasts", unit="s", gt=0)
    rate_per_s: float = setting(10.0, "requests per second", unit="1/s", gt=0)


class LongJobSettings(Settings):
    """9.4.2.b: a long job runs uninterrupted."""

    seconds: float = setting(3600.0, "length of the long probe job", unit="s", gt=0)


class MonitoringPerfSettings(Settings):
    """9.4.2.d: fleet monitoring at scale."""

    max_staleness_s: float = setting(
        60.0, "oldest a card's last metric sample may be", unit="s", gt=0)
    min_cards: int = setting(
        0, "least number of cards the platform must report", unit="cards", ge=0)


PeakTable = dict[str, dict[str, Annotated[float, Field(gt=0)]]]


class PerfSettings(Settings):
    """Chapter 9: what the platform computes on, its peaks, and the performance thresholds."""

    compute_device: Literal["accelerator", "cpu"] = setting(
        "accelerator", "what the probes measure: the accelerators, or the CPU of a CPU-only "
                       "target (compared with a CPU peak, never a GPU's)")
    job_timeout_s: float = setting(
        300.0, "longest a probe job may take before the check errors", unit="s", gt=0)
    accelerator_probe_memory_gib: float = setting(
        4.0, "host memory per worker a torch probe job holding cards asks for (its limit where "
             "the platform makes requests limits): torch with CUDA took 1.2-1.3 GiB on an H200, "
             "over the 1 GiB of the other probe jobs", unit="GiB", gt=0)
    cpu: CpuSettings = section(CpuSettings, "the CPU of a CPU-only target")
    peaks: PeakTable = setting(
        {}, "dense peak per accelerator model and dtype, e.g. {H100-SXM: {bf16: 989}}; "
            "overrides pytest_sca/metrics/peaks.yaml", unit="TFLOP/s")
    operators: OperatorSettings = section(OperatorSettings, "9.1 operator performance")
    training: TrainingPerfSettings = section(TrainingPerfSettings, "9.2 training performance")
    scaling: ScalingSettings = section(ScalingSettings, "9.3.a scalability")
    scheduling: SchedulingPerfSettings = section(SchedulingPerfSettings,
                                                 "9.3.b scheduling performance")
    diagnosis: DiagnosisSettings = section(DiagnosisSettings, "9.4.1.a fault diagnosis")
    availability: AvailabilitySettings = section(AvailabilitySettings,
                                                 "9.4.2.a management API availability")
    long_job: LongJobSettings = section(LongJobSettings, "9.4.2.b long jobs")
    monitoring: MonitoringPerfSettings = section(MonitoringPerfSettings,
                                                 "9.4.2.d fleet monitoring")


# -- chapters 6, 7, 10 -------------------------------------------------------------------------


class TrainingSettings(Settings):
    """Distributed jobs (6.6.a, 7.2)."""

    rendezvous_timeout_s: float = setting(
        60.0, "how long the workers of a multi-worker job wait for each other (image pulls "
              "on a real cluster take time)", unit="s", gt=0)


class JobSettings(Settings):
    """Job life cycle (chapter 6's scheduling checks, 7.2.c)."""

    start_timeout_s: float = setting(
        30.0, "longest a probe job may take from submission to running when the platform has "
              "room for it (a job still pending then is reported as not started)", unit="s",
        gt=0)
    stop_timeout_s: float = setting(
        15.0, "longest a stopped job may take to reach `stopped`", unit="s", gt=0)


class ClusterSettings(Settings):
    """Clusters created and scaled on demand (6.2.d, 6.9)."""

    ready_timeout_s: float = setting(
        120.0, "longest a new cluster may take to be ready", unit="s", gt=0)
    scale_timeout_s: float = setting(
        300.0, "longest a node may take to join or leave a cluster that says it is still "
               "changing (bare-metal nodes boot: raise it for them)", unit="s", gt=0)


class DevMachineSettings(Settings):
    """Dev machines (7.1)."""

    accelerators: int = setting(
        1, "cards the dev machine of 7.1.a requests and must see", unit="cards", ge=0)
    port: int | None = setting(
        None, "port exposed from a dev machine (7.1.c); none: the platform chooses",
        ge=1, le=65535)
    expose_timeout_s: float = setting(
        5.0, "longest the exposed URL may take to answer", unit="s", gt=0)


class AuditSettings(Settings):
    """Audit logs (10.1.c, 10.2.d)."""

    max_delay_s: float = setting(
        5.0, "longest an audited call may take to appear in the audit log", unit="s", gt=0)


def _yaml_word(value: Any) -> Any:
    # YAML 1.1 reads `isolation: no` as false; the check compares words.
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


class NetworkSettings(Settings):
    """Network isolation between tenants (10.2.f), recorded whole as the check's evidence."""

    isolation: Annotated[str | None, BeforeValidator(_yaml_word)] = setting(
        None, "the isolation the platform applies: e.g. `tenant`; `none` (fails 10.2.f), "
              "`unsupported` (not_assessed, with `reason`); not declared: asked of the "
              "platform's network policy route")
    reason: str | None = setting(None, "why isolation is `unsupported` here")
    address_range: str | None = setting(
        None, "address range of the tenant networks, e.g. 10.213.0.0/16 (shown as evidence)")


def _metric_key(key: str) -> str:
    exporter, dot, dimension = key.partition(".")
    if not (exporter and dot and dimension) or "." in dimension or " " in key:
        raise ValueError("write the key as <exporter>.<dimension>, e.g. dcgm.accelerator")
    return key


#: "<exporter>.<dimension>", e.g. dcgm.accelerator.
MetricKey = Annotated[str, AfterValidator(_metric_key)]


class MetricSettings(Settings):
    """Exporter metric names (6.4)."""

    names: dict[MetricKey, str] = setting(
        {}, "metric-name overrides, \"<exporter>.<dimension>\": name, when metrics come from "
            "the platform's own /metrics (adapters.prometheus.metric_names for Prometheus)")


# -- chapter 8 ---------------------------------------------------------------------------------


class FinetuneSettings(Settings):
    """Fine-tuning (8.3)."""

    base_model: str | None = setting(
        None, "preset model to fine-tune; none: the first preset the platform lists")
    steps: int = setting(30, "training steps of the fine-tuning job", unit="steps", ge=1)
    timeout_s: float = setting(
        300.0, "longest the fine-tuning job may take", unit="s", gt=0)


class UsageSettings(Settings):
    """Usage statistics of model APIs and workflows (8.8)."""

    max_delay_s: float = setting(
        60.0, "longest a call or a workflow run may take to show in the usage statistics "
              "(platforms meter asynchronously)", unit="s", gt=0)


class ModelImportSettings(Settings):
    """An artefact the platform can import (8.4.a)."""

    source: str | None = setting(
        None, "URI of a model artefact in the platform's object storage; none: the suite "
              "uploads an sca-tinylm/1 model")
    format: str | None = setting(None, "format of that artefact, e.g. gguf")


class ModelSettings(Settings):
    """Model management (8.4)."""

    import_: ModelImportSettings = Field(
        default_factory=ModelImportSettings, alias="import",
        description="the artefact 8.4.a imports")


class ServiceSettings(Settings):
    """Model services (8.5)."""

    model: str | None = setting(
        None, "model the deployment checks deploy; none: the first preset the platform lists")
    ready_timeout_s: float = setting(
        60.0, "longest a deployment may take to leave `deploying`", unit="s", gt=0)


class WorkflowSettings(Settings):
    """Workflow applications (8.6)."""

    environment: str | None = setting(
        None, "environment the workflow checks configure; none: the first the platform offers")


class Capabilities(Settings):
    """The ``capabilities:`` section of a target file."""

    simulated: bool = setting(
        False, "the platform simulates hardware it does not have (the sandbox says so)")
    perf: PerfSettings = section(PerfSettings, "chapter 9: peaks and performance thresholds")
    training: TrainingSettings = section(TrainingSettings, "distributed jobs (6.6, 7.2)")
    jobs: JobSettings = section(JobSettings, "job life cycle (7.2.c)")
    clusters: ClusterSettings = section(ClusterSettings, "clusters on demand (6.2.d, 6.9)")
    devmachines: DevMachineSettings = section(DevMachineSettings, "dev machines (7.1)")
    audit: AuditSettings = section(AuditSettings, "audit logs (10.1.c, 10.2.d)")
    network: NetworkSettings = section(NetworkSettings, "network isolation (10.2.f)")
    metrics: MetricSettings = section(MetricSettings, "exporter metric names (6.4)")
    finetune: FinetuneSettings = section(FinetuneSettings, "fine-tuning (8.3)")
    models: ModelSettings = section(ModelSettings, "model import (8.4)")
    services: ServiceSettings = section(ServiceSettings, "model services (8.5)")
    workflows: WorkflowSettings = section(WorkflowSettings, "workflow applications (8.6)")
    usage: UsageSettings = section(UsageSettings, "usage statistics (8.8)")


# -- reading by path -----------------------------------------------------------------------------


def file_name(info: FieldInfo, attribute: str) -> str:
    """A field's name as a target file writes it (its alias, e.g. ``import``)."""
    return info.alias or attribute


def _attribute(model: type[BaseModel], name: str) -> str | None:
    """The attribute of ``model`` that a file's key ``name`` sets; None if none does."""
    for attribute, info in model.model_fields.items():
        if name == file_name(info, attribute):
            return attribute
    return None


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds (through ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = section_model(arg)
            if found is not None:
                return found
    return None


@dataclass(frozen=True)
class Resolved:
    """A field reached by its path: its value, its definition, whether the file set it."""

    path: str
    value: Any
    info: FieldInfo
    set_in_file: bool


def resolve(settings: Capabilities, path: str) -> Resolved:
    """The field at ``path`` (as a file writes it: ``perf.availability.seconds``).

    A path that names no field is a bug in the caller: ``KeyError`` naming the path.
    """
    node: BaseModel = settings
    set_in_file = True
    parts = path.split(".")
    for depth, part in enumerate(parts):
        attribute = _attribute(type(node), part)
        if attribute is None:
            raise KeyError(f"capabilities.{path}: {part!r} is not a field of "
                           f"{type(node).__name__} (pytest_sca/settings.py)")
        set_in_file = set_in_file and attribute in node.model_fields_set
        value = getattr(node, attribute)
        if depth == len(parts) - 1:
            return Resolved(path, value, type(node).model_fields[attribute], set_in_file)
        if not isinstance(value, BaseModel):
            raise KeyError(f"capabilities.{path}: {'.'.join(parts[:depth + 1])} is a value, "
                           "not a group of settings")
        node = value
    raise KeyError("capabilities: an empty path names no field")


def threshold(settings: Capabilities, path: str) -> Threshold:
    """The number at ``path`` and its source: the target file, or the default and its meaning."""
    found = resolve(settings, path)
    if isinstance(found.value, bool) or not isinstance(found.value, (int, float)):
        raise TypeError(f"capabilities.{path} is not a number: read it as sca.settings.{path}")
    if found.set_in_file:
        return Threshold(float(found.value), f"target file capabilities.{path}")
    return Threshold(float(found.value),
                     f"default {found.value:g} ({found.info.description})")


def leaves(model: type[BaseModel] = Capabilities, prefix: str = ""
           ) -> Iterator[tuple[str, FieldInfo]]:
    """Every field that holds a value (not a group), with its path as a file writes it."""
    for attribute, info in model.model_fields.items():
        path = f"{prefix}{file_name(info, attribute)}"
        nested = section_model(info.annotation)
        if nested is not None:
            yield from leaves(nested, f"{path}.")
        else:
            yield path, info


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        named = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        optional = type(None) in get_args(annotation)
        return " or ".join(named) + (" or none" if optional else "")
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        return f"mapping of {_type_name(get_args(annotation)[1])}"
    names = {bool: "boolean", int: "integer", float: "number", str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default_text(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def unit_of(info: FieldInfo) -> str:
    """The unit of a quantity, as declared with :func:`setting`; "" for none."""
    extra = info.json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def markdown_table() -> str:
    """The ``capabilities:`` fields as a Markdown table (docs/capabilities.md holds it)."""
    rows = ["| field | type | default | unit | meaning |", "|---|---|---|---|---|"]
    for path, info in leaves():
        rows.append(f"| `{path}` | {_type_name(info.annotation)} | {_default_text(info)} | "
                    f"{unit_of(info)} | {(info.description or '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"
