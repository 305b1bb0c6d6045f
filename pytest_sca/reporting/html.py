"""A self-contained HTML report (one file, no scripts, no external assets) from the JSON report.

Built from the report dict, after secrets are masked, so it shows exactly what
the JSON report holds; ``python -m pytest_sca html report.json out.html``
renders a saved report again.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

_VERDICT_COLOURS = {
    "pass": "#1a7f37", "fail": "#cf222e", "error": "#9a6700", "not_assessed": "#6e7781",
    "manual": "#0969da", "waived": "#8250df",
}
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;
margin:2rem auto;max-width:1200px;color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
h3{margin:1.2rem 0 .4rem}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;color:#fff;font-size:.85em;
white-space:nowrap}.meta{color:#57606a}.zh{color:#57606a;font-size:.92em}
details{margin:.2rem 0}pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:20rem;
white-space:pre-wrap}.provisional{background:#fff8c5;padding:.4rem .6rem;border:1px solid #d4a72c}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str) -> str:
    colour = _VERDICT_COLOURS.get(verdict, "#6e7781")
    return f'<span class="badge" style="background:{colour}">{_e(verdict)}</span>'


def _score_row(label: str, entry: dict[str, Any]) -> str:
    counts = entry["counts"]
    cells = "".join(f'<td class="num">{counts[v]}</td>' for v in _VERDICT_COLOURS)
    return (f"<tr><td>{label}</td><td class='num'>{entry['items']}</td>{cells}"
            f"<td class='num'>{entry['score']:.1%}</td>"
            f"<td>{'yes' if entry['conformant'] else 'no'}</td></tr>")


def _item_block(item: dict[str, Any]) -> str:
    parts = [f"<tr id='item-{_e(item['id'])}'><td>{_e(item['id'])}</td>",
             f"<td>{_e(item['level'])}<br><span class='meta'>{_e(item['source'])}</span></td>",
             f"<td>{_e(item['text_en'])}<br><span class='zh'>{_e(item['text_zh'])}</span></td>",
             f"<td>{_badge(item['verdict'])}</td><td>{_e(item['reason'])}"]
    for note in item["notes"]:
        parts.append(f"<br><span class='meta'>{_e(note)}</span>")
    for measurement in item["measurements"]:
        threshold = ""
        if measurement.get("threshold") is not None:
            threshold = (f" (threshold {_e(measurement.get('comparison') or '')}"
                         f"{_e(measurement['threshold'])})")
        parts.append(f"<br>{_e(measurement['name'])}: {_e(measurement['value'])} "
                     f"{_e(measurement['unit'])}{threshold}")
    tests = "".join(f"<li>{_badge(t['outcome'])} <code>{_e(t['nodeid'])}</code> "
                    f"<span class='meta'>{t['duration']:.2f} s</span></li>"
                    for t in item["tests"])
    evidence = "".join(f"<details><summary>{_e(e['name'])}</summary>"
                       f"<pre>{_e(e['content'])}</pre></details>" for e in item["evidence"])
    parts.append(f"<details><summary>tests ({len(item['tests'])})</summary><ul>{tests}</ul>"
                 f"</details>{evidence}</td></tr>")
    return "".join(parts)


def render(report: dict[str, Any]) -> str:
    """The HTML page of a JSON report."""
    target, run, overall = report["target"], report["run"], report["overall"]
    head = "".join(f"<th>{_e(v)}</th>" for v in _VERDICT_COLOURS)
    domain_rows = "".join(
        _score_row(f"{_e(d['chapter'])} {_e(d['name_zh'])} {_e(d['name_en'])}", d)
        for d in report["domains"])
    sections = []
    for domain in report["domains"]:
        sections.append(f"<h2>{_e(domain['chapter'])} {_e(domain['name_zh'])} "
                        f"{_e(domain['name_en'])} — {domain['score']:.1%}</h2>")
        for sub in (s for s in report["subdomains"] if s["domain"] == domain["id"]):
            rows = "".join(_item_block(i) for i in report["items"]
                           if i["subdomain"] == sub["id"])
            sections.append(
                f"<h3>{_e(sub['id'])} {_e(sub['name_zh'])} {_e(sub['name_en'])} "
                f"<span class='meta'>{sub['score']:.1%}</span></h3><table><tr><th>item</th>"
                f"<th>level</th><th>requirement</th><th>verdict</th><th>reason and evidence"
                f"</th></tr>{rows}</table>")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pytest-sca — {_e(target['name'])}</title><style>{_STYLE}</style></head><body>
<h1>{_e(report['standard']['title_zh'])}<br>{_e(report['standard']['title_en'])}</h1>
<p class="meta">target <b>{_e(target['name'])}</b> (fingerprint {_e(target['fingerprint'])}),
edition {_e(report['standard']['edition'])}, run {_e(run['id'])},
{_e(run['started'])} – {_e(run['finished'])}, pytest-sca {_e(report['tool']['version'])}</p>
<p><b>Overall score {overall['score']:.1%}</b>, grade <b>{_e(overall['grade'])}</b>,
{'conformant' if overall['conformant'] else 'not conformant'} (every in-scope shall item).</p>
<p class="provisional">The grade follows the {_e(overall['grade_status'])} scheme
{_e(report['grading']['scheme'])}: the standard's own evaluation method is not published yet.</p>
<table><tr><th>domain</th><th>items</th>{head}<th>score</th><th>conformant</th></tr>
{domain_rows}{_score_row('<b>overall</b>', overall)}</table>
{''.join(sections)}
</body></html>
"""


def write(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


def render_file(json_path: Path, html_path: Path) -> Path:
    """Render a saved JSON report to HTML."""
    return write(json.loads(json_path.read_text(encoding="utf-8")), html_path)
