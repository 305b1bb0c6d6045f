"""The plugin's cost on a run of many trivial clause checks (goal: at most 1.15×).

Writes a temporary project of 2,000 parametrized trivial tests, each marked
``@pytest.mark.clause(<id>)`` with an item id of the catalogue (cycling through all of
them), and runs it side by side, interleaved (AB, BA, AB…) so that a loaded machine slows
both alike:

- ``plugin``: ``pytest --sca-target=target.yaml`` where the target file is the minimal
  one the plugin accepts (``name: bench``, no adapters: nothing is reached); the plugin
  expands the markers, turns every outcome into a verdict and writes the JSON report;
- ``bare``: the same tests with ``-p no:sca`` (the ``clause`` marker registered in the
  project's ini file in both, so that neither run warns 2,000 times).

Each run is a child process; its wall time and its own CPU time (``wait4``) are read.
The ratio compares the fastest run of each (slower runs measure the machine's other
work, as ``timeit`` advises) on CPU time, which another process's load disturbs least,
and on wall time.

Run: ``python benchmarks/bench_plugin_overhead.py [--tests 2000] [--rounds 5] [--isolated]``
(``--isolated``: no plugin from entry points, pytest alone against pytest with pytest-sca
alone; without it every installed plugin loads in both runs, as in a user's environment).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import ChildRun, child_env, load_average, python, run_measured, summary  # noqa: E402

from pytest_sca.catalog import load_catalog  # noqa: E402

GOAL = 1.15
MINIMAL_TARGET = "name: bench\n"
INI = "[pytest]\nmarkers =\n    clause(id): the clause item a check verifies\n"


def checks_module(clause_ids: list[str], count: int) -> str:
    """A test module of ``count`` trivial tests, parametrized, each marked with a clause id
    (cycling through ``clause_ids``)."""
    ids = ", ".join(repr(i) for i in clause_ids)
    return (
        "import pytest\n\n"
        f"CLAUSES = [{ids}]\n\n\n"
        "@pytest.mark.parametrize('n', [\n"
        f"    pytest.param(n, marks=pytest.mark.clause(CLAUSES[n % len(CLAUSES)]))\n"
        f"    for n in range({count})\n"
        "])\n"
        "def test_trivial(n):\n"
        "    assert n >= 0\n"
    )


def write_project(root: Path, count: int) -> None:
    """The temporary project: ini file, minimal target file, the checks module."""
    clause_ids = [clause.id for clause in load_catalog()]
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    (root / "target.yaml").write_text(MINIMAL_TARGET, encoding="utf-8")
    (root / "test_clauses.py").write_text(checks_module(clause_ids, count), encoding="utf-8")


def commands(root: Path, isolated: bool) -> dict[str, list[str]]:
    """The two runs. ``isolated``: no plugin is loaded from entry points (pytest alone
    against pytest with only pytest-sca), else every installed plugin loads in both."""
    base = [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_clauses.py"]
    sca = ["-p", "pytest_sca.plugin"] if isolated else []
    return {
        "plugin": [*base, *sca, "--sca-target=target.yaml",
                   f"--sca-json={root / 'report.json'}"],
        "bare": [*base] if isolated else [*base, "-p", "no:sca"],
    }


def ratio(plugin: list[ChildRun], bare: list[ChildRun], attribute: str) -> float:
    """Fastest plugin run over fastest bare run, on ``wall_s`` or ``cpu_s``."""
    return min(getattr(r, attribute) for r in plugin) / min(getattr(r, attribute) for r in bare)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--isolated", action="store_true",
                        help="load no plugin from entry points: pytest alone vs pytest with "
                        "pytest-sca alone (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1)")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="sca-bench-overhead-") as tmp:
        root = Path(tmp)
        write_project(root, args.tests)
        runs: dict[str, list[ChildRun]] = {"plugin": [], "bare": []}
        cmds = commands(root, args.isolated)
        env = child_env({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"} if args.isolated else None)
        if not args.isolated:
            env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        for index in range(args.rounds + 1):
            order = ("plugin", "bare") if index % 2 else ("bare", "plugin")
            for mode in order:
                run = run_measured(cmds[mode], cwd=root, env=env)
                if run.returncode != 0:
                    print(run.output[-3000:], file=sys.stderr)
                    raise SystemExit(f"{mode} run failed (exit {run.returncode})")
                if index:  # the first round warms the file system cache and .pyc files
                    runs[mode].append(run)
        report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    cpu_ratio = ratio(runs["plugin"], runs["bare"], "cpu_s")
    wall_ratio = ratio(runs["plugin"], runs["bare"], "wall_s")
    print(json.dumps({
        "benchmark": "plugin_overhead", "tests": args.tests,
        "plugins": "pytest-sca only" if args.isolated else "every installed plugin",
        "rounds": args.rounds,
        "items_in_report": len(report.get("items", [])),
        "plugin_wall_s": summary([r.wall_s for r in runs["plugin"]]),
        "bare_wall_s": summary([r.wall_s for r in runs["bare"]]),
        "plugin_cpu_s": summary([r.cpu_s for r in runs["plugin"]]),
        "bare_cpu_s": summary([r.cpu_s for r in runs["bare"]]),
        "ratio_cpu": round(cpu_ratio, 3), "ratio_wall": round(wall_ratio, 3),
        "goal": GOAL, "within_goal": max(cpu_ratio, wall_ratio) <= GOAL,
        "load_before": load_before, "load_after": load_average(),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
