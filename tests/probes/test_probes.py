"""The probes run on this machine's CPU (numpy; torch when installed) and print one result line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from pytest_sca import probes
from pytest_sca.metrics import scaling

NUMPY = {"backend": "numpy"}


def test_job_spec_carries_source_and_arguments() -> None:
    command, env = probes.job_spec("gemm", {"iterations": 1}, {"OMP_NUM_THREADS": "1"})
    assert command[:2] == ["python", "-c"] and "def main" in command[2]
    assert json.loads(env[probes.ARGS_VARIABLE]) == {"iterations": 1}
    assert env["OMP_NUM_THREADS"] == "1"
    with pytest.raises(ValueError):
        probes.source("nope")


@pytest.mark.parametrize("name", probes.NAMES)
def test_a_shipped_probe_imports_nothing_of_pytest_sca(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What a probe shares with others (``# sca: inline``) travels inside its source: run
    isolated (``-I``, outside the project, no site packages), it still defines itself."""
    source = probes.source(name)
    assert not [line for line in source.splitlines() if line.endswith("# sca: inline")]
    done = subprocess.run([sys.executable, "-I", "-S", "-c",
                           "import ast, sys; tree = ast.parse(sys.stdin.read()); "
                           "print(sorted({n.module for n in ast.walk(tree) "
                           "if isinstance(n, ast.ImportFrom) and n.module}))"],
                          input=source, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "pytest_sca" not in done.stdout, done.stdout


def test_parse_result_takes_the_probe_line_among_logs() -> None:
    output = "warming up\n{\"other\": 1}\n{\"probe\": \"gemm\", \"x\": 2}\nsca-progress: 1\n"
    assert probes.parse_result(output, "gemm") == {"probe": "gemm", "x": 2}
    with pytest.raises(probes.ProbeOutputMissing):
        probes.parse_result("Traceback…\n", "train")


def test_probes_size_their_work_by_device() -> None:
    """An accelerator gets products and models large enough to keep it busy (the CPU's sizes
    read as 6 % and 0.4 % of an H200's peak: docs/chapter09.md); the arguments override."""
    gemm = probes.module("gemm")
    assert max(m for m, _, _ in gemm["ACCELERATOR_SHAPES"]) >= 8192
    assert max(m for m, _, _ in gemm["CPU_SHAPES"]) <= 1024
    repetitions = gemm["repetitions"]
    assert repetitions(True) == (3, 10) and repetitions(False) == (1, 3)
    overridden = probes.module("gemm", {"warmup": 0, "iterations": 2})
    assert overridden["repetitions"](True) == (0, 2)
    train = probes.module("train", {"vision_model": {"side": 16}})
    sizes, table = train["model_sizes"], train["LANGUAGE_SIZES"]
    assert sizes(table, "language", "cuda") == table["accelerator"]
    assert sizes(table, "language", "cpu")["width"] == 128
    assert sizes(train["VISION_SIZES"], "vision", "npu")["side"] == 16


def test_gemm_probe_on_cpu() -> None:
    result = probes.run_here("gemm", {**NUMPY, "shapes": [[128, 128, 128]], "iterations": 2,
                                      "dtypes": ["fp32", "bf16"]})
    assert result["device_type"] == "cpu" and result["device"]["cores"] >= 1
    assert result["skipped_dtypes"] == ["bf16"]
    matmul = next(r for r in result["results"] if r["op"] == "matmul")
    assert matmul["flop"] == 2 * 128**3 and matmul["iterations"] == 2
    assert 0 < matmul["best_s"] <= matmul["median_s"]
    assert result["best_tflops"]["fp32"] == pytest.approx(matmul["tflops_best"])


def test_train_probe_counts_flops_and_times_every_stage() -> None:
    result = probes.run_here("train", {**NUMPY, "epochs": 2, "steps_per_epoch": 3,
                                       "batch": 32})
    kinds = {m["kind"]: m for m in result["models"]}
    assert set(kinds) == {"language", "vision"}
    language = kinds["language"]
    # mlp-lm: 256→512→512 dense layers, forward 2·B·in·out, training ×3.
    assert language["flop_per_step"] == 3 * 2.0 * 32 * (256 * 512 + 512 * 512)
    assert [len(e) for e in language["epochs"]] == [3, 3]
    step = language["epochs"][0][0]
    assert set(language["stages"]) <= set(step) and step["total"] >= step["forward"] > 0
    assert sum(scaling.stage_shares({s: step[s] for s in language["stages"]}).values()) == \
        pytest.approx(1.0)


def test_train_probe_stops_at_its_time_budget() -> None:
    result = probes.run_here("train", {**NUMPY, "models": ["vision"], "epochs": 2,
                                       "steps_per_epoch": 10**6, "max_seconds": 0.2})
    epochs = result["models"][0]["epochs"]
    assert len(epochs) == 2 and all(len(e) >= 1 for e in epochs)


def test_paced_probe_reports_progress_and_rate() -> None:
    command, env = probes.job_spec("paced", {"steps": 4, "step_seconds": 0.02})
    done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env}, check=True)
    assert "sca-progress: 1.000" in done.stdout
    result = probes.parse_result(done.stdout, "paced")
    assert result["simulated"] and result["steps"] == 4 and result["seconds"] >= 0.08


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_allreduce_probe_between_two_ranks(backend: str) -> None:
    """Two local ranks really exchange data over loopback: TCP without torch, gloo with it."""
    if backend == "torch":
        pytest.importorskip("torch")
    port = str(_free_port())
    command, env = probes.job_spec("allreduce", {"backend": backend, "sizes": [4096, 65536],
                                                 "iterations": 2})
    ranks = [subprocess.Popen([sys.executable, *command[1:]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **env, "RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
             for r in (0, 1)]
    try:
        outputs = [p.communicate(timeout=60) for p in ranks]
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    assert all(p.returncode == 0 for p in ranks), outputs
    result = probes.parse_result(outputs[0][0], "allreduce")
    assert result["world_size"] == 2 and result["bus_factor"] == 1.0
    for row in result["results"]:
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_allreduce_verify_mode_prints_the_sum_on_every_rank(backend: str) -> None:
    """Mode verify: each rank contributes its value and every rank prints the sum it got,
    with the rendezvous variables it was asked to report."""
    if backend == "torch":
        pytest.importorskip("torch")
    port = str(_free_port())
    command, env = probes.job_spec("allreduce", {"mode": "verify", "backend": backend,
                                                 "values": [17, 25], "timeout_s": 30,
                                                 "env": ["RANK", "MASTER_PORT"]})
    ranks = [subprocess.Popen([sys.executable, *command[1:]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **env, "RANK": str(r), "WORLD_SIZE": "2",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port})
             for r in (0, 1)]
    try:
        outputs = [p.communicate(timeout=60) for p in ranks]
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    assert all(p.returncode == 0 for p in ranks), outputs
    results = [probes.parse_result(out, "allreduce") for out, _ in outputs]
    assert [(r["rank"], r["world_size"], r["sum"]) for r in results] == [(0, 2, 42.0),
                                                                         (1, 2, 42.0)]
    assert [r["env"] for r in results] == [{"RANK": "0", "MASTER_PORT": port},
                                           {"RANK": "1", "MASTER_PORT": port}]


def test_torch_backend_counts_flops_with_flop_counter_mode() -> None:
    """With torch installed (the `probes` extra) the probes use it; skipped without torch."""
    pytest.importorskip("torch")
    gemm = probes.run_here("gemm", {"backend": "torch", "shapes": [[128, 128, 128]],
                                    "iterations": 1, "dtypes": ["fp32", "bf16"]})
    assert gemm["backend"] == "torch" and {"conv2d", "attention"} <= {
        r["op"] for r in gemm["results"]}
    train = probes.run_here("train", {"backend": "torch", "epochs": 1, "steps_per_epoch": 1,
                                      "batch": 8}, timeout=300)
    counted = {m["model"]: m for m in train["models"]}
    assert all(m["flop_counted_by"] == "FlopCounterMode" for m in counted.values())
    assert all(m["flop_per_step"] > 0 for m in counted.values())


def test_probes_that_require_an_accelerator_stop_on_a_cpu() -> None:
    gemm = probes.run_here("gemm", {**NUMPY, "require_accelerator": True})
    assert gemm["device_type"] == "cpu" and gemm["results"] == [] and gemm["best_tflops"] == {}
    train = probes.run_here("train", {**NUMPY, "require_accelerator": True})
    assert all(m["device_type"] == "cpu" and m["epochs"] == [] for m in train["models"])


def test_train_probe_reports_what_its_flops_are_checked_against() -> None:
    """Forward FLOPs, trained tokens, parameters and the dtype: a check compares the counted
    training FLOPs with 3 × forward and with PaLM's 6·N per token (docs/chapter09.md)."""
    from pytest_sca.metrics.flops import palm_flops_per_token
    from pytest_sca.probes.results import train_result

    command, env = probes.job_spec("train", {**NUMPY, "epochs": 1, "steps_per_epoch": 1,
                                             "batch": 16, "models": ["language"]})
    done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env}, check=True)
    model = train_result(done.stdout)["models"][0]
    assert model["flop_per_step"] == 3 * model["forward_flop_per_step"]
    per_token = palm_flops_per_token(model["params"], 0, 0, 0, 0)
    assert model["flop_per_step"] == model["tokens_per_step"] * per_token
    assert model["dtype"] == "fp32" and model["device"]["cores"] >= 1


def test_paced_probe_waits_for_its_common_start() -> None:
    import time

    from pytest_sca.probes.results import paced_result

    start_at = time.time() + 0.5
    command, env = probes.job_spec("paced", {"steps": 1, "step_seconds": 0.01,
                                             "start_at": start_at})
    done = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env}, check=True)
    result = paced_result(done.stdout)
    assert result["launched"] < start_at <= result["started"] + 0.01
