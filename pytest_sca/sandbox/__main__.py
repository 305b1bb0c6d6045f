"""``python -m pytest_sca.sandbox serve|faults``: run the embedded reference platform."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_sca.sandbox.faults import Fault, check_faults


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_sca.sandbox",
        description="The embedded reference AI platform of pytest-sca, on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the sandbox and run until Ctrl-C/SIGTERM")
    serve.add_argument("--state", type=Path, default=None,
                       help="state directory kept across restarts (default: a temp dir)")
    serve.add_argument("--fault", action="extend", nargs="+", default=[], metavar="NAME",
                       help="behavioural faults to run with (repeatable; see `faults`)")
    serve.add_argument("--ready-file", type=Path, default=None,
                       help="file written with the target file's path once ready")
    serve.add_argument("--exit-with-parent", action="store_true",
                       help="stop when the process that started the sandbox is gone (what "
                            "the launcher asks: a run killed outright leaves no sandbox)")
    serve.add_argument("--temporary-state", action="store_true",
                       help="--state is the starting process's temporary directory: removed "
                            "when the sandbox stops because that process is gone")
    commands.add_parser("faults", help="list the faults: name<TAB>behaviour it breaks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parent = os.getppid()  # before anything: the process that started this one
    args = _parser().parse_args(argv)
    if args.command == "faults":
        for fault in Fault:
            print(f"{fault.value}\t{fault.description}")
        return 0
    try:
        faults = check_faults(args.fault)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from pytest_sca.sandbox.server import StateDirInUse, serve

    try:
        code = serve(args.state, faults, args.ready_file,
                     parent if args.exit_with_parent else None, args.temporary_state)
    except StateDirInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Everything the sandbox started is stopped and its temporary state removed by now:
    # leave without the interpreter's final garbage collection of the platform's heap, which
    # took 2-3 s of every run's stop (the launcher waits for the process to be gone).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
