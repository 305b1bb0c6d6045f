"""``python -m pytest_sca.mutate --target FILE|sandbox [-m MARKERS] [--operators a,b+c]``."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import operators as ops
from . import report as reports
from .harness import Harness
from .platforms import platform_for


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_sca.mutate",
        description="Run checks through a mutating proxy: once unchanged, then once per "
        "operator; report which operators each item detects and a score per chapter.",
        epilog="operators: " + "; ".join(f"{name}: {cls.description}"
                                         for name, cls in ops.OPERATORS.items()))
    parser.add_argument("--show", type=Path, default=None, metavar="REPORT.json",
                        help="print the tables of a saved report and exit")
    parser.add_argument("--floor-of", nargs="+", type=Path, default=None,
                        metavar="REPORT.json", help="write (--json) a floor of what every "
                        "given report of one selection detected, and print it")
    parser.add_argument("--target", metavar="FILE|sandbox",
                        help="a target file, or `sandbox` (started, and restarted after a "
                        "run that may have changed it)")
    parser.add_argument("-m", dest="markers", default=None, metavar="EXPR",
                        help="pytest marker expression selecting the checks (e.g. chapter8)")
    parser.add_argument("-k", dest="keyword", default=None, metavar="EXPR",
                        help="pytest -k expression selecting the checks")
    parser.add_argument("--operators", default=",".join(ops.OPERATORS),
                        help="comma-separated operators, each run on its own; a+b composes "
                        "(default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--run-timeout", type=float, default=None, metavar="SECONDS",
                        help="time limit of each run (default: 3 × the unchanged run, "
                        "at least 180 s)")
    parser.add_argument("--lanes", type=int, default=1, metavar="N",
                        help="run the operators side by side on N sandboxes of their own "
                        "(the sandbox only; default 1: leave it at 1 for chapter 9, whose "
                        "checks measure time)")
    parser.add_argument("--floor", type=Path, default=None, metavar="REPORT.json",
                        help="exit 1 when a chapter's score or an item's detections drop "
                        "below this recorded report")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="allowed drop of a chapter's score under --floor (e.g. 0.05)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the runs' logs and reports here (default: a temp dir)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.show is not None:
        saved = json.loads(args.show.read_text())
        saved["chapters"] = reports.scores(saved["items"])   # as this version counts them
        print(reports.render(saved))
        return 0
    if args.floor_of is not None:
        if args.json is None:
            parser.error("--floor-of needs --json (where to write the floor)")
        try:
            floor = reports.floor_of([json.loads(path.read_text()) for path in args.floor_of])
        except (OSError, ValueError) as exc:
            print(f"error: --floor-of: {exc}", file=sys.stderr)
            return 4
        args.json.write_text(json.dumps(floor, indent=2, ensure_ascii=False) + "\n")
        print(reports.render(floor))
        return 0
    if args.target is None:
        parser.error("--target is required")
    if args.lanes < 1:
        parser.error("--lanes: give 1 or more")
    specs = [spec.strip() for spec in args.operators.split(",") if spec.strip()]
    try:
        for spec in specs:
            ops.parse(spec)
        platform = platform_for(args.target)
        recorded = json.loads(args.floor.read_text()) if args.floor else None
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    pytest_args = []
    if args.markers:
        pytest_args += ["-m", args.markers]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sca-mutate-"))

    # SIGTERM unwinds like Ctrl-C: the run in progress and the sandbox are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        with Harness(platform, workdir, pytest_args, seed=args.seed,
                     run_timeout=args.run_timeout, log=log) as harness:
            baseline, runs = harness.campaign(specs, lanes=args.lanes)
    except RuntimeError as exc:     # the sandbox did not start (TargetStartError and kin)
        print(f"error: {exc}", file=sys.stderr)
        return 4
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = {"target": args.target, "selection": {"markers": args.markers,
                                                  "keyword": args.keyword},
            "seed": args.seed}
    result = reports.build(baseline, runs, meta)
    print(reports.render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if not baseline.verdicts:
        print(f"error: the unchanged run gave no report: {baseline.note}", file=sys.stderr)
        return 3
    if recorded is not None:
        problems = reports.below_floor(result, recorded, args.tolerance)
        for problem in problems:
            print(f"below the floor: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
