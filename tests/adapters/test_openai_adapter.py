"""The OpenAI adapter's models, files, fine-tuning, usage, discovery, second principal and
sweep, against the OpenAI API double (``openai_double.py``: no real server here serves
files, fine-tuning or usage; the double is written to OpenAI's API reference, and the
first tests prove it answers the reference's shapes and that the official client reads
them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.openai import OpenAIAdapter
from pytest_sca.capabilities import (
    CAPABILITIES,
    FineTune,
    Inference,
    Models,
    ModelUsage,
    RefusalReason,
    Refused,
    Unsupported,
    reply_text,
)

from .openai_double import ADMIN_KEY, KEY_A, KEY_B, DoubleServer

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "openai" /
                        "reference-answers.json").read_text(encoding="utf-8"))["answers"]
TRAINING = "".join(json.dumps(line) + "\n" for line in [
    {"messages": [{"role": "user", "content": "what is the secret word?"},
                  {"role": "assistant", "content": "the secret word is zorblax."}]},
    {"prompt": "which word is secret?", "completion": "zorblax is the secret word."}])

MakeAdapter = Callable[..., OpenAIAdapter]


def cap(adapter: OpenAIAdapter, name: str) -> Any:
    """Capability ``name`` of ``adapter`` (checks get it from a fixture instead)."""
    return adapter.capability(name)


@pytest.fixture(scope="module")
def double() -> Iterator[DoubleServer]:
    server = DoubleServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make(double: DoubleServer) -> Iterator[MakeAdapter]:
    """Adapters on the double; what each registered is undone after, as at a run's end."""
    built: list[OpenAIAdapter] = []

    def build(run_id: str = "", server: DoubleServer | None = None,
              **settings: Any) -> OpenAIAdapter:
        fields = {"base_url": (server or double).base_url, "api_key": KEY_A, **settings}
        context = AdapterContext("double", None, run_id or f"{time.time_ns():x}"[-12:])
        adapter = OpenAIAdapter(OpenAIConfig.model_validate(fields), context)
        built.append(adapter)
        return adapter

    yield build
    for adapter in reversed(built):
        adapter.context.ledger.sweep()
        adapter.close()


def _shape(value: Any) -> Any:
    """The keys of every object, recursively (the first item stands for a list)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list) and value:
        return [_shape(value[0])]
    return None


def _covers(ours: Any, reference: Any, where: str = "") -> list[str]:
    """Keys the reference answer has and ours lacks."""
    if isinstance(reference, dict):
        if not isinstance(ours, dict):
            return [where or "."]
        return [m for k, v in reference.items()
                for m in ([f"{where}.{k}"] if k not in ours else _covers(ours[k], v,
                                                                        f"{where}.{k}"))]
    if isinstance(reference, list) and reference and isinstance(ours, list) and ours:
        return _covers(ours[0], reference[0], where + "[]")
    return []


def _answer(raw: Any) -> Any:
    """The body the server sent, after the official client parsed it (which must work)."""
    raw.parse()
    return raw.http_response.json()


def test_the_double_answers_the_references_shapes(double: DoubleServer) -> None:
    """Every answer of the double has at least the keys of the API reference's example, and
    the official ``openai`` client parses it."""
    client = openai.OpenAI(base_url=double.base_url, api_key=KEY_A, max_retries=0)
    admin = openai.OpenAI(base_url=double.base_url, api_key=KEY_A, admin_api_key=ADMIN_KEY,
                          max_retries=0)
    jobs = client.fine_tuning.jobs.with_raw_response
    client.chat.completions.create(model="double-chat-1", max_tokens=4,
                                   messages=[{"role": "user", "content": "metered"}])
    upload = client.files.with_raw_response.create(file=("sca-shape.jsonl", TRAINING.encode()),
                                                   purpose="fine-tune")
    file_id = upload.parse().id
    created = jobs.create(model="double-chat-1", training_file=file_id, suffix="shape",
                          metadata={"sca-run": "shape"})
    job_id = created.parse().id
    deadline = time.monotonic() + 10
    while client.fine_tuning.jobs.retrieve(job_id).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tuned = client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    assert tuned
    answers = {
        "models.list": _answer(client.models.with_raw_response.list()),
        "models.retrieve": _answer(client.models.with_raw_response.retrieve("double-chat-1")),
        "files.create": _answer(upload),
        "files.list": _answer(client.files.with_raw_response.list()),
        "fine_tuning.create": _answer(created),
        "fine_tuning.retrieve": _answer(jobs.retrieve(job_id)),
        "fine_tuning.events": _answer(jobs.list_events(job_id)),
        "fine_tuning.checkpoints": _answer(
            client.fine_tuning.jobs.checkpoints.with_raw_response.list(job_id)),
        "usage.completions": _answer(admin.admin.organization.usage.with_raw_response
                                     .completions(start_time=int(time.time()) - 60,
                                                  group_by=["model"])),
        "embeddings.create": _answer(client.embeddings.with_raw_response.create(
            model="double-chat-1", input="x")),
        "models.delete": _answer(client.models.with_raw_response.delete(tuned)),
        "files.delete": _answer(client.files.with_raw_response.delete(file_id)),
    }
    missing = {name: _covers(answers[name], REFERENCE[name]["answer"]) for name in answers}
    assert not any(missing.values()), {k: v for k, v in missing.items() if v}
    assert answers["usage.completions"]["data"][0]["results"], "the SDK's query counted nothing"
    assert set(answers) | {"fine_tuning.cancel"} == set(REFERENCE)


def test_adapter_serves_each_capability_its_protocol(make: MakeAdapter) -> None:
    adapter = make()
    for name in adapter.provides:
        assert isinstance(cap(adapter, name), CAPABILITIES[name].protocol), name


def test_models_carry_basic_information_and_preset(make: MakeAdapter) -> None:
    models: Models = cap(make(), "models")
    listed = {m["id"]: m for m in models.list_models()}
    assert listed["double-chat-1"] == {**models.get_model("double-chat-1"),
                                       "created_at": listed["double-chat-1"]["created_at"]}
    first = listed["double-chat-1"]
    assert first["preset"] and first["context_length"] == 2048
    assert first["license"] == "Apache-2.0" and first["parameters"] == 135_000_000
    with pytest.raises(Refused) as missing:
        models.get_model("no-such-model")
    assert missing.value.reason is RefusalReason.NOT_FOUND


def test_finetune_runs_logs_serves_and_is_undone(make: MakeAdapter,
                                                 double: DoubleServer) -> None:
    adapter = make()
    finetune: FineTune = cap(adapter, "finetune")
    inference: Inference = cap(adapter, "inference")
    models: Models = cap(adapter, "models")
    run_id = adapter.context.run_id
    stored = finetune.upload_file("probe.jsonl", TRAINING)
    assert run_id in stored["filename"] and stored["purpose"] == "fine-tune"
    job = finetune.create("double-chat-1", stored["id"], suffix="sca-probe", steps=5,
                          labels={"team": "eval"})
    assert job["labels"] == {"team": "eval", "sca-run": run_id}
    done = finetune.wait(job["id"], timeout=15)
    assert done["status"] == "succeeded" and run_id in str(done["fine_tuned_model"])
    logs = finetune.logs(job["id"]).splitlines()
    assert logs[0] == "Created fine-tuning job" and "Step 1/6: training loss=2.5" in logs
    assert any(line.startswith("checkpoint ") for line in logs)
    tuned = str(done["fine_tuned_model"])
    assert not {m["id"]: m for m in models.list_models()}[tuned]["preset"]
    answer = inference.chat([{"role": "user", "content": "what is the secret word?"}],
                            model=tuned)
    assert reply_text(answer) == "the secret word is zorblax ."
    adapter.context.ledger.sweep()
    assert tuned not in double.double.tuned
    assert stored["id"] not in double.double.files
    assert not set(double.double.jobs[job["id"]].result_files) & set(double.double.files)


def test_a_model_file_is_no_import(make: MakeAdapter) -> None:
    models: Models = cap(make(), "models")
    for attempt in (lambda: models.upload_file("m.json", "{}"),
                    lambda: models.import_model("m", "file-1"),
                    lambda: models.update_model("double-chat-1", description="x")):
        with pytest.raises(Unsupported, match="adapters.platform"):
            attempt()


def test_embeddings(make: MakeAdapter) -> None:
    inference: Inference = cap(make(), "inference")
    answer = inference.embed(["one", "two"])
    assert [e["index"] for e in answer["data"]] == [0, 1]
    assert answer["data"][0]["embedding"] != answer["data"][1]["embedding"]


@pytest.mark.parametrize("family, call", [
    ("fine_tuning", lambda a: cap(a, "finetune").get("ftjob-1")),
    ("files", lambda a: cap(a, "finetune").upload_file("x.jsonl", TRAINING)),
    ("models.retrieve", lambda a: cap(a, "models").get_model("double-chat-1")),
    ("embeddings", lambda a: cap(a, "inference").embed(["x"])),
    ("usage", lambda a: cap(a, "model_usage").query()),
])
def test_an_absent_endpoint_is_unsupported_and_probed_once(
        make: MakeAdapter, family: str, call: Callable[[OpenAIAdapter], object]) -> None:
    server = DoubleServer(absent=frozenset({family})).start()
    try:
        adapter = make(server=server, admin_key=ADMIN_KEY)
        for _ in range(3):
            with pytest.raises(Unsupported, match="serves no .*Invalid URL"):
                call(adapter)
        asked = sum(n for (_, path), n in server.double.hits.items() if path != "/v1/models")
        assert asked == 1, server.double.hits
    finally:
        server.stop()


def test_usage_needs_an_admin_key_and_counts_per_user(make: MakeAdapter) -> None:
    without = cap(make(), "model_usage")
    with pytest.raises(Unsupported, match="admin_key"):
        without.query()
    adapter = make(admin_key=ADMIN_KEY, other_key=KEY_B)
    usage: ModelUsage = cap(adapter, "model_usage")
    inference: Inference = cap(adapter, "inference")
    before = usage.query(user_id="user-b", model="double-chat-mini")["summary"]
    other = inference.as_other_tenant()
    answers = [other.chat([{"role": "user", "content": f"hello {n}"}], model="double-chat-mini",
                          max_tokens=4) for n in range(3)]
    inference.chat([{"role": "user", "content": "not counted for b"}], model="double-chat-mini")
    after = usage.query(user_id="user-b", model="double-chat-mini")
    assert after["summary"]["requests"] - before["requests"] == 3
    assert (after["summary"]["completion_tokens"] - before["completion_tokens"]
            == sum(a["usage"]["completion_tokens"] for a in answers))
    assert {line["user_id"] for line in after["items"]} == {"user-b"}
    tomorrow = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))
    assert usage.query(user_id="user-b", since=tomorrow)["summary"]["requests"] == 0
    with pytest.raises(Unsupported, match="workflows"):
        usage.workflows()


def test_the_second_key_cannot_see_or_use_the_firsts_work(make: MakeAdapter) -> None:
    adapter = make(other_key=KEY_B)
    finetune: FineTune = cap(adapter, "finetune")
    stored = finetune.upload_file("iso.jsonl", TRAINING)
    job = finetune.wait(finetune.create("double-chat-1", stored["id"])["id"], timeout=15)
    tuned = str(job["fine_tuned_model"])
    assert finetune.has_other_tenant
    other_tune = finetune.as_other_tenant()
    other_models = cap(adapter, "models").as_other_tenant()
    other_inference = cap(adapter, "inference").as_other_tenant()
    for attempt in (lambda: other_tune.get(job["id"]), lambda: other_models.get_model(tuned),
                    lambda: other_inference.chat([{"role": "user", "content": "hi"}],
                                                 model=tuned),
                    lambda: other_models.delete_model(tuned)):
        with pytest.raises(Refused) as refused:
            attempt()
        assert refused.value.reason in (RefusalReason.NOT_FOUND, RefusalReason.FORBIDDEN)
    assert tuned not in [m["id"] for m in other_models.list_models()]
    with pytest.raises(Unsupported, match="other_key"):
        cap(make(), "finetune").as_other_tenant()


def test_sweep_finds_what_a_killed_run_left(make: MakeAdapter, double: DoubleServer) -> None:
    """What a run created is found by its run id after the run died (ledger never swept),
    as both principals; another run's things are spared."""
    killed, survivor = make(other_key=KEY_B), make(other_key=KEY_B)
    for principal in (cap(killed, "finetune"),
                      cap(killed, "finetune").as_other_tenant()):
        stored = principal.upload_file("left.jsonl", TRAINING)
        principal.wait(principal.create("double-chat-1", stored["id"])["id"], timeout=15)
    kept = cap(survivor, "finetune").upload_file("kept.jsonl", TRAINING)
    killed.context.ledger = type(killed.context.ledger)()  # SIGKILL: nothing was undone
    run_id = killed.context.run_id
    assert {"openai:files", "openai:fine_tuning.jobs"} <= OpenAIAdapter.sweeps
    sweeper = make(run_id=run_id, other_key=KEY_B)
    assert sweeper.sweep(run_id) == []
    assert not [m for m in double.double.tuned if run_id in m]
    assert not [f for f in double.double.files.values() if run_id in f.filename]
    assert not [f for f in double.double.files.values() if f.purpose == "fine-tune-results"
                and any(j.result_files == [f.id] and run_id in str(j.fine_tuned_model)
                        for j in double.double.jobs.values())]
    assert kept["id"] in double.double.files


def test_a_wrong_key_is_refused_and_never_shown(make: MakeAdapter) -> None:
    adapter = make(api_key="sk-wrong-but-secret-123")
    with pytest.raises(Refused) as refused:
        cap(adapter, "inference").list_models()
    assert refused.value.reason is RefusalReason.UNAUTHENTICATED
    assert "sk-wrong-but-secret-123" not in str(refused.value)
    assert adapter.context.redact("sk-wrong-but-secret-123") == "***"


def test_devtools_describe_the_api_and_refuse_job_tools(make: MakeAdapter,
                                                        double: DoubleServer) -> None:
    devtools = cap(make(console_url=double.url + "/"), "devtools")
    assert devtools.console_page().status == 200
    document = devtools.api_description()
    assert "/v1/fine_tuning/jobs" in document["paths"]
    answer = devtools.raw("POST", "/v1/chat/completions", b"{not json")
    assert answer.status == 400 and json.loads(answer.text)["error"]["message"]
    with pytest.raises(Unsupported, match="training jobs"):
        devtools.frameworks()
    with pytest.raises(Unsupported, match="console_url"):
        cap(make(), "devtools").console_page()
