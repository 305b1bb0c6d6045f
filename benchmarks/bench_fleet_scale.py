"""Fleet scale: the inventory and telemetry checks on simulated fleets of 1,000, 10,000 and
100,000 cards. Time and peak memory must grow at most linearly; API requests per card ≤ 2.

For each size, :mod:`fleetsim` serves the fleet on 127.0.0.1 (the platform reference API's
node list, fleet inventory pages and card series; a stub Prometheus answering the ``sca``
exporter's series), and a child ``pytest --sca-target=<fleet target> --sca-readonly`` runs
the shipped checks that read the inventory and the telemetry:

- 6.2.a (``compute.list_nodes``, and the ``sca`` exporter's cards of every node),
- 6.4.a (every node's and card's series, read twice), 6.4.d (the five load dimensions),
- 9.4.2.d (every card from the paged fleet inventory, series read in batches).

6.2.e is not among them since 2026-11-30: it runs one probe job per domestic vendor (a
mutating check, and a cost that grows with vendors, not cards).

The child's wall time, CPU time and peak RSS (``wait4``) are its own; the servers run in
this process and count every request. ``per_card`` figures are marginal: the growth from
the previous size divided by the cards added (the fixed cost of a pytest run — start-up,
the 1 s pause between two reads of 6.4.a/d — cancels out).

Run: ``python benchmarks/bench_fleet_scale.py [--sizes 1000 10000 100000]``.
Prints one JSON line per size, then one ``fleet_scale`` summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleetsim import Fleet, serve, target_yaml  # noqa: E402
from measure import load_average, python, run_measured  # noqa: E402

from pytest_sca.collection import SUITES_ROOT  # noqa: E402

CLAUSES = ("6.2.a", "6.4.a", "6.4.d", "9.4.2.d")
SUITE_FILES = ("chapter06_scheduling/test_6_02_compute.py",
               "chapter06_scheduling/test_6_04_monitoring.py",
               "chapter09_performance/test_9_4_2_stability.py")
REQUESTS_PER_CARD = 2.0
#: How much faster than linear a figure may grow before the summary calls it superlinear
#: (a loaded machine's noise): marginal cost of the largest step ≤ this × the previous one.
LINEAR_SLACK = 1.5


def run_size(cards: int, timeout: float) -> dict[str, Any]:
    """Serve a fleet of ``cards`` cards, run the checks against it, read what it cost."""
    fleet = Fleet(cards)
    with tempfile.TemporaryDirectory(prefix=f"sca-bench-fleet-{cards}-") as tmp, \
            serve(fleet) as urls:
        root = Path(tmp)
        (root / "target.yaml").write_text(target_yaml(urls, cards), encoding="utf-8")
        report_path = root / "report.json"
        args = [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--sca-target=target.yaml", "--sca-readonly", f"--sca-json={report_path}",
                "-k", " or ".join(CLAUSES), *(str(SUITES_ROOT / f) for f in SUITE_FILES)]
        load = load_average()
        child = run_measured(args, cwd=root, timeout=timeout)
        report = json.loads(report_path.read_text("utf-8")) if report_path.exists() else {}
    verdicts = {i["id"]: i["verdict"] for i in report.get("items", []) if i["id"] in CLAUSES}
    total = sum(fleet.requests.values())
    result = {
        "benchmark": "fleet_scale_size", "cards": cards, "nodes": len(fleet.node_ids),
        "returncode": child.returncode, "wall_s": round(child.wall_s, 3),
        "cpu_s": round(child.cpu_s, 3), "max_rss_mib": round(child.max_rss_mib, 1),
        "requests": total, "requests_per_card": round(total / cards, 5),
        "requests_by_path": dict(sorted(fleet.requests.items())),
        "verdicts": verdicts, "load_before": load,
    }
    if set(verdicts.values()) - {"pass"} or len(verdicts) != len(CLAUSES):
        result["output_tail"] = child.output[-2000:]
    return result


def marginal(results: list[dict[str, Any]], key: str) -> list[float]:
    """Growth of ``key`` per card added, from each size to the next."""
    return [(b[key] - a[key]) / (b["cards"] - a["cards"])
            for a, b in zip(results, results[1:], strict=False)]


def at_most_linear(steps: list[float], slack: float = LINEAR_SLACK) -> bool:
    """Whether the cost per card added does not grow from one step to the next (beyond
    ``slack``; a step that costs nothing or less is linear)."""
    return all(later <= max(earlier, 0.0) * slack or later <= 0.0
               for earlier, later in zip(steps, steps[1:], strict=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds one size may take before its run is killed")
    args = parser.parse_args()
    results = []
    for cards in args.sizes:
        result = run_size(cards, args.timeout)
        print(json.dumps(result), flush=True)
        results.append(result)
    summary: dict[str, Any] = {
        "benchmark": "fleet_scale", "sizes": args.sizes,
        "all_passed": all(set(r["verdicts"].values()) == {"pass"} and
                          len(r["verdicts"]) == len(CLAUSES) for r in results),
        "max_requests_per_card": max(r["requests_per_card"] for r in results),
        "requests_within_goal": all(r["requests_per_card"] <= REQUESTS_PER_CARD
                                    for r in results),
        "load_after": load_average(),
    }
    for key in ("wall_s", "cpu_s", "max_rss_mib"):
        steps = marginal(results, key)
        summary[f"{key}_per_card_added"] = [round(s, 8) for s in steps]
        summary[f"{key}_at_most_linear"] = at_most_linear(steps)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
