"""``python -m pytest_sca``: small commands around the plugin.

    python -m pytest_sca schema      print the JSON Schema of target files
    python -m pytest_sca catalog     print the catalogue as JSON
    python -m pytest_sca html REPORT.json OUT.html   render a saved JSON report as HTML
    python -m pytest_sca cleanup --target FILE --run-id ID
                                     remove what an interrupted run left on the target
                                     (everything labelled with that run id, nothing else)
    python -m pytest_sca mapping-skeleton OPENAPI.json [-o TARGET.yaml]
                                     a commented starting mapping (docs/mapping.md) from a
                                     vendor's OpenAPI document, every guess marked
    python -m pytest_sca doctor TARGET [--json]
                                     can the target be evaluated? every adapter's
                                     reachability, TLS, credentials and offers (exit 0 all
                                     usable, 1 some unusable, 6 none, 4 a bad target file)
    python -m pytest_sca bundle REPORT.json [--html …] [--junit …] [--target …] -o OUT.zip
                                     the signed-off evidence bundle (SHA-256 manifest)
    python -m pytest_sca verify BUNDLE.zip [--digest SHA256]
                                     check a bundle against its manifest
    python -m pytest_sca export REPORT.json [--format cncf]
                                     the report as a CNCF-style conformance self-assessment

Each command is one entry of :data:`COMMANDS`: its help, its arguments and what it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Exit status of a command given a file it cannot use (pytest's "usage error").
USAGE = 4


@dataclass(frozen=True)
class Command:
    """One subcommand: its one-line help, how it declares its arguments, what it runs."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without arguments."""


# -- schema, catalog, html -------------------------------------------------------------------


def _schema(args: argparse.Namespace) -> int:
    from .target import export_schema

    print(json.dumps(export_schema(), indent=2, ensure_ascii=False))
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    catalog = load_catalog()
    print(json.dumps([dataclasses.asdict(c) for c in catalog], indent=2, ensure_ascii=False))
    return 0


def _html_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path)
    parser.add_argument("output", type=Path)


def _html(args: argparse.Namespace) -> int:
    from .reporting.html import render_file

    print(render_file(args.report, args.output))
    return 0


# -- cleanup ---------------------------------------------------------------------------------


def _cleanup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, type=Path, help="the run's target file")
    parser.add_argument("--run-id", required=True, help="the run id the report printed")


def _cleanup(args: argparse.Namespace) -> int:
    """Sweep every configured adapter that can find what a run id labelled; 1 if any failed."""
    from .adapters import registry
    from .adapters.base import AdapterContext
    from .catalog import load_catalog
    from .target import TargetFileError, load_target

    target_path, run_id = args.target, args.run_id
    try:
        target = load_target(target_path, load_catalog())
    except TargetFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    context = AdapterContext(target.name, target.path, run_id, target.redact)
    failures: list[str] = []
    swept = []
    for transport, config in target.adapters.items():
        adapter = registry.load_adapter_class(transport)(config, context)
        try:
            if adapter.sweeps:
                swept.append(transport)
                failures += [f"{transport}: {target.redact(line)}"
                             for line in adapter.sweep(run_id)]
        finally:
            adapter.close()
    print(f"swept run {run_id} through {', '.join(swept) or 'no adapter that can sweep'}")
    for line in failures:
        print(f"could not remove: {line}", file=sys.stderr)
    return 1 if failures else 0


# -- mapping-skeleton ------------------------------------------------------------------------


def _mapping_skeleton_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("openapi", type=Path, help="the vendor's OpenAPI document (JSON/YAML)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")


def _mapping_skeleton(args: argparse.Namespace) -> int:
    """Write the skeleton; 2 with one line if the document cannot be read."""
    from .adapters.mapping.skeleton import load_document, skeleton

    openapi, output = args.openapi, args.output
    try:
        document = load_document(openapi)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = skeleton(document, openapi.name)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    print(text.splitlines()[2].lstrip("# "), file=sys.stderr)
    return 0


# -- doctor ----------------------------------------------------------------------------------


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    from .doctor import DEADLINE, TIMEOUT

    parser.add_argument("target", help="a target file, or `sandbox` (started, probed, stopped)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds one request may take (default {TIMEOUT:g})")
    parser.add_argument("--deadline", type=float, default=DEADLINE,
                        help=f"seconds the whole preflight may take (default {DEADLINE:g})")


def _doctor(args: argparse.Namespace) -> int:
    import os

    from . import doctor, providers
    from .catalog import load_catalog
    from .target import TargetFileError, load_target

    catalog = load_catalog()
    running = None
    try:
        if args.target == "sandbox":
            try:
                running = providers.load_provider("sandbox").start()
            except (providers.ProviderUnavailable, providers.TargetStartError) as exc:
                print(f"error: sandbox: {exc}", file=sys.stderr)
                return USAGE
            os.environ.update(running.env)
            path = running.target_path
        else:
            path = Path(args.target)
        try:
            target = load_target(path, catalog)
        except TargetFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return USAGE
        diagnosis = doctor.diagnose(target, timeout=args.timeout, deadline=args.deadline)
    finally:
        if running is not None:
            running.stop()
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(doctor.render(diagnosis)))
    return diagnosis.exit_status


# -- bundle, verify, export ------------------------------------------------------------------


def _bundle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="the run's JSON report (--sca-json)")
    parser.add_argument("--html", type=Path, help="the run's HTML report (--sca-html)")
    parser.add_argument("--junit", type=Path, help="the run's JUnit file (--junitxml)")
    parser.add_argument("--allure", type=Path, help="the run's Allure results (--alluredir)")
    parser.add_argument("--target", type=Path,
                        help="the target file (its literal secrets are masked)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the bundle (.zip)")


def _bundle(args: argparse.Namespace) -> int:
    from .bundle import BundleError, make_bundle

    try:
        manifest = make_bundle(args.report, args.output, html=args.html, junit=args.junit,
                               allure=args.allure, target=args.target)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    print(f"{args.output}: {len(manifest.files)} files, run {manifest.run_id}, target "
          f"{manifest.target} (fingerprint {manifest.fingerprint}), {manifest.edition}, "
          f"pytest-sca {manifest.tool_version}")
    print(f"manifest SHA-256 (write it beside your signature): {manifest.digest}")
    return 0


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--digest", help="the manifest SHA-256 the signed report names")


def _verify(args: argparse.Namespace) -> int:
    from .bundle import BundleError, verify_bundle

    try:
        problems, manifest = verify_bundle(args.bundle, digest=args.digest)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"{args.bundle}: NOT intact ({len(problems)} problem(s))")
        return 1
    print(f"{args.bundle}: intact: {len(manifest.files)} files match the manifest "
          f"{manifest.digest}, bound to run {manifest.run_id}, target {manifest.target} "
          f"(fingerprint {manifest.fingerprint}), {manifest.edition}, "
          f"pytest-sca {manifest.tool_version}")
    return 0


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, help="the run's JSON report")
    parser.add_argument("--format", choices=("cncf",), default="cncf",
                        help="cncf: per requirement status, evidence, notes (YAML)")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")


def _export(args: argparse.Namespace) -> int:
    from .reporting.export import cncf_yaml

    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        text = cncf_yaml(report)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.report}: not a pytest-sca JSON report ({exc}): give the report "
              "of a run (--sca-json)", file=sys.stderr)
        return USAGE
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(args.output)
    else:
        print(text, end="")
    return 0


#: Every subcommand, by name (add one here: its help, arguments and runner).
COMMANDS: dict[str, Command] = {
    "schema": Command("print the JSON Schema of target files", _no_arguments, _schema),
    "catalog": Command("print the catalogue as JSON", _no_arguments, _catalog),
    "html": Command("render a saved JSON report as HTML", _html_arguments, _html),
    "cleanup": Command("remove what a run left on the target", _cleanup_arguments, _cleanup),
    "mapping-skeleton": Command("a starting mapping from a vendor's OpenAPI document",
                                _mapping_skeleton_arguments, _mapping_skeleton),
    "doctor": Command("check that a target can be evaluated: every adapter's reachability, "
                      "TLS, credentials and offers", _doctor_arguments, _doctor),
    "bundle": Command("pack a run's reports, evidence and target file with a SHA-256 "
                      "manifest", _bundle_arguments, _bundle),
    "verify": Command("check a bundle against its manifest", _verify_arguments, _verify),
    "export": Command("export a JSON report as a CNCF-style conformance self-assessment",
                      _export_arguments, _export),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_sca")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.arguments(subparsers.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
