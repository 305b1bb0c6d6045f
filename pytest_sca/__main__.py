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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_sca")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("schema", help="print the JSON Schema of target files")
    commands.add_parser("catalog", help="print the catalogue as JSON")
    html = commands.add_parser("html", help="render a saved JSON report as HTML")
    html.add_argument("report", type=Path)
    html.add_argument("output", type=Path)
    cleanup = commands.add_parser("cleanup", help="remove what a run left on the target")
    cleanup.add_argument("--target", required=True, type=Path, help="the run's target file")
    cleanup.add_argument("--run-id", required=True, help="the run id the report printed")
    skeleton = commands.add_parser(
        "mapping-skeleton", help="a starting mapping from a vendor's OpenAPI document")
    skeleton.add_argument("openapi", type=Path, help="the vendor's OpenAPI document (JSON/YAML)")
    skeleton.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    if args.command == "cleanup":
        return _cleanup(args.target, args.run_id)
    if args.command == "mapping-skeleton":
        return _mapping_skeleton(args.openapi, args.output)
    if args.command == "html":
        from .reporting.html import render_file

        print(render_file(args.report, args.output))
    elif args.command == "schema":
        from .target import export_schema

        print(json.dumps(export_schema(), indent=2, ensure_ascii=False))
    else:
        from .catalog import load_catalog

        catalog = load_catalog()
        print(json.dumps([dataclasses.asdict(c) for c in catalog], indent=2, ensure_ascii=False))
    return 0


def _cleanup(target_path: Path, run_id: str) -> int:
    """Sweep every configured adapter that can find what a run id labelled; 1 if any failed."""
    from .adapters import registry
    from .adapters.base import AdapterContext
    from .catalog import load_catalog
    from .target import TargetFileError, load_target

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


def _mapping_skeleton(openapi: Path, output: Path | None) -> int:
    """Write the skeleton; 2 with one line if the document cannot be read."""
    from .adapters.mapping.skeleton import load_document, skeleton

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


if __name__ == "__main__":
    sys.exit(main())
