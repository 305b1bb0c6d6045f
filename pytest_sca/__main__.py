"""``python -m pytest_sca``: small commands around the plugin.

    python -m pytest_sca schema      print the JSON Schema of target files
    python -m pytest_sca catalog     print the catalogue as JSON
    python -m pytest_sca html REPORT.json OUT.html   render a saved JSON report as HTML
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
