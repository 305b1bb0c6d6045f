"""The benchmarks' helpers (benchmarks/): what they build and count, never how fast.

Performance is measured by the scripts in benchmarks/, not asserted here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_fleet_scale  # noqa: E402
import bench_plugin_overhead  # noqa: E402
import fleetsim  # noqa: E402
import measure  # noqa: E402


def test_run_measured_reads_the_childs_own_cost(tmp_path: Path) -> None:
    run = measure.run_measured([sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
                               cwd=tmp_path)
    assert run.returncode == 3 and "hello" in run.output
    assert run.wall_s > 0 and run.cpu_s >= 0 and run.max_rss_mib > 1
    assert not list(tmp_path.iterdir()), "the output file is removed"


def test_run_measured_kills_a_child_past_its_timeout(tmp_path: Path) -> None:
    run = measure.run_measured([sys.executable, "-c", "import time; time.sleep(60)"],
                               cwd=tmp_path, timeout=0.5)
    assert run.returncode == -9


def test_overhead_module_marks_every_test_with_a_catalogue_clause(tmp_path: Path) -> None:
    bench_plugin_overhead.write_project(tmp_path, 7)
    namespace: dict[str, object] = {}
    exec((tmp_path / "test_clauses.py").read_text("utf-8"), namespace)  # noqa: S102
    params = namespace["test_trivial"].pytestmark[0].args[1]  # type: ignore[attr-defined]
    clauses = namespace["CLAUSES"]
    assert len(params) == 7 and len(clauses) == 97  # type: ignore[arg-type]
    assert [p.marks[0].args[0] for p in params] == clauses[:7]  # type: ignore[index]
    assert (tmp_path / "target.yaml").read_text("utf-8") == "name: bench\n"


def test_overhead_commands_differ_only_by_the_plugin(tmp_path: Path) -> None:
    for isolated in (False, True):
        commands = bench_plugin_overhead.commands(tmp_path, isolated)
        plugin, bare = commands["plugin"], commands["bare"]
        base = bare if isolated else bare[:-2]
        assert plugin[:len(base)] == base
        assert (bare[-2:] == ["-p", "no:sca"]) is not isolated
        assert any(a.startswith("--sca-target=") for a in plugin)
        assert not any(a.startswith("--sca") for a in bare)


def test_fleet_sizes_its_nodes_and_pages() -> None:
    fleet = fleetsim.Fleet(20)
    assert fleet.node_ids == ["node-000000", "node-000001", "node-000002"]
    assert [len(n["accelerators"]) for n in fleet.nodes()["items"]] == [8, 8, 4]
    assert {n["accelerators"][0]["vendor"] for n in fleet.nodes()["items"]} == {
        "huawei", "cambricon", "hygon"}
    page = fleet.fleet_page(2, 500)
    assert page["total"] == 3 and [n["id"] for n in page["items"]] == ["node-000002"]
    series = fleet.card_series(["node-000002/3", "node-000002/4", "nowhere/0"])["items"]
    assert [s["found"] for s in series] == [True, False, False]


def test_fleet_answers_the_metrics_capabilitys_queries() -> None:
    fleet = fleetsim.Fleet(20)
    names = "|".join(fleetsim.NODE_METRICS + fleetsim.CARD_METRICS + ("other_metric",))
    every = json.loads(fleet.query('{__name__=~"' + names + '"}'))["data"]["result"]
    assert len(every) == 3 * len(fleetsim.NODE_METRICS) + 20 * len(fleetsim.CARD_METRICS)
    card = fleetsim.CARD_METRICS[0]
    stamps = json.loads(fleet.query(f"timestamp({card})"))["data"]["result"]
    assert len(stamps) == 20 and "__name__" not in stamps[0]["metric"]
    assert stamps[-1]["metric"] == {"node": "node-000002", "index": "3"}
    bare = json.loads(fleet.query(f'{card}{{node="x"}}'))["data"]["result"]
    assert len(bare) == 20
    assert json.loads(fleet.query("up"))["data"]["result"] == []


def test_fleet_is_served_on_loopback_and_counts_requests() -> None:
    fleet = fleetsim.Fleet(10)
    with fleetsim.serve(fleet) as urls:
        assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
        nodes = requests.get(urls["platform"] + "api/v1/nodes", timeout=10).json()
        missing = requests.get(urls["platform"] + "api/v1/other", timeout=10)
        answer = requests.get(urls["prometheus"] + "api/v1/query",
                              params={"query": "up"}, timeout=10).json()
    assert len(nodes["items"]) == 2 and missing.status_code == 404
    assert answer["status"] == "success"
    assert fleet.requests == {"platform /api/v1/nodes": 1, "platform /api/v1/other": 1,
                              "prometheus /api/v1/query": 1}


def test_fleet_target_file_is_valid(tmp_path: Path) -> None:
    from pytest_sca.catalog import load_catalog
    from pytest_sca.target import load_target

    path = tmp_path / "target.yaml"
    path.write_text(fleetsim.target_yaml({"platform": "http://127.0.0.1:1/",
                                          "prometheus": "http://127.0.0.1:2/"}, 1000))
    target = load_target(path, load_catalog())
    assert list(target.adapters) == ["prometheus", "platform"]
    assert target.settings.perf.monitoring.min_cards == 1000


@pytest.mark.parametrize(("steps", "linear"), [
    ([1.0, 1.2], True), ([1.0, 2.0], False), ([0.0, 0.0], True), ([-0.1, 0.5], False),
    ([0.5, -0.1], True), ([1.0], True),
])
def test_at_most_linear(steps: list[float], linear: bool) -> None:
    assert bench_fleet_scale.at_most_linear(steps) is linear


def test_marginal_cost_per_card_added() -> None:
    results = [{"cards": 1000, "wall_s": 10.0}, {"cards": 11000, "wall_s": 20.0}]
    assert bench_fleet_scale.marginal(results, "wall_s") == [0.001]


#: Nodes of the emulated cluster whose cards a DRA driver publishes (tests/kube/fixtures/
#: dra.yaml): a point read of one also lists the ResourceClaims (who holds its devices).
DRA_NODES = 1


def test_kube_requests_do_not_grow_with_the_cluster() -> None:
    """The Kubernetes adapter's requests (counted, not timed): listing the inventory costs
    the same few requests for 10 and 40 nodes, and reading one node a constant 3 (4 for a
    node of DRA devices)."""
    import bench_kube_scale

    small, large = bench_kube_scale.measure(10), bench_kube_scale.measure(40)
    assert large["cards_held"] == 40 and small["cards_held"] == 10
    assert small["steps"]["list_nodes"]["requests"] == large["steps"]["list_nodes"]["requests"]
    for size in (small, large):
        read = size["steps"]["get_node each"]
        assert read["requests"] == 3 * read["objects"] + DRA_NODES, size
