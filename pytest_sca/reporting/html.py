"""The HTML report: one offline file, no scripts, rendered from the (masked) JSON report.

A deliverable an evaluator can sign: the summary first (grade, conformance, counts, what
failed and why, a chart of the domains), then the scope and identity of the run, the
laboratory and signature block (from the target file's ``evaluation:`` section), the
scores with a chart of every subdomain, what changed since the baseline, the preflight,
a table of contents, and every item with an anchor (``#item-6.1.a``): its requirement
(marked *derived* where the catalogue reconstructed it rather than quoting the
standard), verdict, reason, measurements, tests and evidence. Print CSS makes
Chromium's "print to PDF" a readable A4 document with every evidence block expanded.
``python -m pytest_sca html report.json out.html`` renders a saved report again.
"""

from __future__ import annotations

import html
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .numbers import grade_text, measurement_text, number, percent, quantity

VERDICTS = ("pass", "fail", "error", "not_assessed", "manual", "waived")
_COLOURS = {
    "pass": "#1a7f37", "fail": "#cf222e", "error": "#9a6700", "not_assessed": "#6e7781",
    "manual": "#0969da", "waived": "#8250df",
}
_LABELS = {"pass": "pass", "fail": "fail", "error": "error", "not_assessed": "not assessed",
           "manual": "manual", "waived": "waived"}
_STYLE = """
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Micro Hei",
"Microsoft YaHei",sans-serif;margin:0 auto;max-width:1150px;color:var(--fg);padding:1.5rem 1rem}
h1{font-size:1.45rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.8rem 0 .6rem;
border-bottom:2px solid var(--line);padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
a{color:#0969da;text-decoration:none}table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{border:1px solid var(--line);padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;color:#fff;font-size:.82em;
white-space:nowrap;font-weight:600}.meta{color:var(--muted)}.zh{color:var(--muted)}
.derived{display:inline-block;border:1px dashed #9a6700;color:#9a6700;border-radius:.3rem;
padding:0 .35rem;font-size:.78em;margin-left:.3rem}.quoted{display:inline-block;
border:1px solid #1a7f37;color:#1a7f37;border-radius:.3rem;padding:0 .35rem;font-size:.78em;
margin-left:.3rem}
pre{background:var(--soft);padding:.45rem;overflow:auto;max-height:18rem;white-space:pre-wrap;
word-break:break-word;font-size:.82em;margin:.3rem 0}
.banner{padding:.5rem .75rem;border-radius:.4rem;margin:.6rem 0}
.partial{background:#fff8c5;border:2px solid #d4a72c;font-weight:600}
.provisional{background:#fff8c5;border:1px solid #d4a72c}
.warn{background:#ffebe9;border:1px solid #cf222e}
.headline{display:flex;flex-wrap:wrap;gap:.8rem;margin:.8rem 0}
.card{border:1px solid var(--line);border-radius:.5rem;padding:.5rem .9rem;min-width:9rem}
.card .big{font-size:1.7rem;font-weight:700;line-height:1.2}.card .small{color:var(--muted);
font-size:.85em}.counts span{margin-right:.6rem;white-space:nowrap}
.item{border:1px solid var(--line);border-radius:.4rem;padding:.5rem .7rem;margin:.6rem 0}
.item header{display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}
.item .id{font-weight:700;font-size:1.05em}.req{margin:.3rem 0}
.kv{display:grid;grid-template-columns:13rem 1fr;gap:.15rem .8rem}.kv dt{color:var(--muted)}
.kv dd{margin:0}.sign{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem;margin-top:1rem}
.sign div{border-top:1px solid var(--fg);padding-top:.3rem;min-height:3.5rem}
nav ol{columns:2;margin:.3rem 0;padding-left:1.2rem}nav li{break-inside:avoid}
nav .items{columns:1;font-size:.88em}
.print-only{display:none}
footer{margin-top:2rem;color:var(--muted);font-size:.85em}
@page{size:A4;margin:14mm 12mm 16mm 12mm;
@bottom-left{content:"pytest-sca evaluation report";font-size:8pt;color:#57606a}
@bottom-right{content:"page " counter(page) " of " counter(pages);font-size:8pt;color:#57606a}}
@media print{
body{font-size:10pt;max-width:none;padding:0}
a{color:inherit}h2{break-after:avoid}h3{break-after:avoid}
.screen-only{display:none!important}.print-only{display:block}
pre{max-height:none;overflow:visible;font-size:7.5pt}
.item{break-inside:auto;border-color:#bbb}.item header,.req{break-inside:avoid}
.page-break{break-before:page}
th,td{padding:.15rem .3rem}
.badge,.banner,.card,th,pre{-webkit-print-color-adjust:exact;print-color-adjust:exact}
svg{max-width:100%;height:auto}
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _badge(verdict: str, text: str | None = None) -> str:
    colour = _COLOURS.get(verdict, "#6e7781")
    return (f'<span class="badge" style="background:{colour}">'
            f'{_e(text or _LABELS.get(verdict, verdict))}</span>')


def _anchor(item_id: str) -> str:
    return f"item-{item_id}"


def _source_mark(source: str) -> str:
    if source == "derived":
        return ('<span class="derived" title="reconstructed by pytest-sca from the subdomain '
                'title and referenced standards: not the standard\'s own words">derived text'
                '</span>')
    return ('<span class="quoted" title="quoted verbatim from Table 2 of the explanatory '
            'notes">quoted</span>')


# -- charts (inline SVG) --------------------------------------------------------------------


def _fit(text: str, width: float, size: int) -> str:
    """``text`` cut (with …) to about ``width`` pixels at font ``size``: CJK characters take
    a full em, others about 0.58 em."""
    used, kept = 0.0, list[str]()
    for char in text:
        used += size * (1.0 if unicodedata.east_asian_width(char) in "WF" else 0.58)
        if used > width:
            return "".join(kept).rstrip() + "…"
        kept.append(char)
    return text


def _svg_text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12,
              weight: str = "normal", fill: str = "#1f2328") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{_e(text)}</text>')


def domain_chart(domains: list[dict[str, Any]]) -> str:
    """Per domain: a bar split by verdict counts, and its score."""
    row, label_w, bar_w = 30, 370, 300
    height = row * len(domains) + 40
    width = label_w + bar_w + 110
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" '
             'aria-label="verdicts and score per capability domain">',
             "<title>Verdicts and score per capability domain</title>"]
    for n, domain in enumerate(domains):
        y = n * row + 6
        parts.append(_svg_text(0, y + 15, _fit(f"{domain['chapter']} {domain['name_zh']} "
                                               f"{domain['name_en']}", label_w - 10, 12)))
        x = float(label_w)
        total = max(1, domain["items"])
        for verdict in VERDICTS:
            count = domain["counts"][verdict]
            if not count:
                continue
            w = bar_w * count / total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" '
                         f'fill="{_COLOURS[verdict]}"><title>{_e(_LABELS[verdict])}: {count}'
                         "</title></rect>")
            if w >= 16:
                parts.append(_svg_text(x + w / 2, y + 14, str(count), anchor="middle",
                                       size=11, fill="#fff"))
            x += w
        mark = "✓" if domain["conformant"] else "✗"
        parts.append(_svg_text(label_w + bar_w + 8, y + 15,
                               f"{percent(domain['score'])} {mark}", weight="bold"))
    legend_y = row * len(domains) + 22
    x = 0.0
    for verdict in VERDICTS:
        parts.append(f'<rect x="{x:.1f}" y="{legend_y - 10}" width="12" height="12" '
                     f'fill="{_COLOURS[verdict]}"/>')
        parts.append(_svg_text(x + 16, legend_y, _LABELS[verdict], size=11))
        x += 16 + 8 * len(_LABELS[verdict]) + 18
    parts.append("</svg>")
    return "".join(parts)


def subdomain_chart(subdomains: list[dict[str, Any]]) -> str:
    """Per subdomain: its score as a bar (green when conformant, red when not)."""
    row, label_w, bar_w = 20, 370, 300
    height = row * len(subdomains) + 28
    width = label_w + bar_w + 110
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" '
             'aria-label="score per capability subdomain">',
             "<title>Score per capability subdomain</title>"]
    for tick in (0, 0.5, 1):
        x = label_w + bar_w * tick
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 22}" '
                     'stroke="#d0d7de"/>')
        parts.append(_svg_text(x, height - 8, percent(tick).replace(".0 ", " "),
                               anchor="middle", size=10, fill="#57606a"))
    for n, sub in enumerate(subdomains):
        y = n * row + 3
        parts.append(_svg_text(0, y + 12, _fit(f"{sub['id']} {sub['name_zh']} "
                                               f"{sub['name_en']}", label_w - 10, 11), size=11))
        colour = _COLOURS["pass"] if sub["conformant"] else _COLOURS["fail"]
        w = max(1.0, bar_w * sub["score"])
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="14" '
                     f'fill="{colour}"><title>{_e(sub["id"])}: {percent(sub["score"])}'
                     "</title></rect>")
        parts.append(_svg_text(label_w + bar_w + 8, y + 12,
                               f"{percent(sub['score'])} ({sub['items']} items)", size=11))
    parts.append("</svg>")
    return "".join(parts)


# -- blocks ----------------------------------------------------------------------------------


def _counts(counts: dict[str, int]) -> str:
    return "".join(f"<span>{_badge(v)} {counts[v]}</span>" for v in VERDICTS)


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v) if v not in (None, '') else '—'}</dd>"
                    for k, v in rows)
    return f'<dl class="kv">{cells}</dl>'


def _summary(report: dict[str, Any]) -> str:
    overall, scope, items = report["overall"], report["scope"], report["items"]
    level = {i["id"]: i["level"] for i in items}
    grade = (f"<div class='big'>{_e(overall['grade'])}</div><div class='small'>grade "
             f"({_e(overall['grade_status'])} scheme)</div>" if scope["complete"] else
             "<div class='big'>—</div><div class='small'>no grade: partial evaluation</div>")
    conformant = "yes" if overall["conformant"] else "no"
    parts = ['<section id="summary"><h2>Summary 摘要</h2>']
    if not scope["complete"]:
        parts.append(f'<p class="banner partial">⚠ {_e(scope["statement"])}. The scores '
                     "stand for the items this run covered only.</p>")
    parts.append(
        '<div class="headline">'
        f'<div class="card">{grade}</div>'
        f'<div class="card"><div class="big">{percent(overall["score"])}</div>'
        f'<div class="small">score (conforming weight / weight in scope)</div></div>'
        f'<div class="card"><div class="big">{conformant}</div><div class="small">'
        f'conformant: {overall["shall_conforming"]} of {overall["shall_items"]} shall items '
        'conform</div></div>'
        f'<div class="card"><div class="big">{overall["items"]}</div><div class="small">'
        f'items evaluated of {scope["catalogue_items"]}</div></div></div>')
    parts.append(f'<p class="counts">{_counts(overall["counts"])}</p>')
    parts.append(domain_chart(report["domains"]))
    problems = [i for i in items if i["verdict"] in ("fail", "error")]
    problems.sort(key=lambda i: (level[i["id"]] != "shall", i["verdict"] != "fail"))
    manual_fail = [i for i in items if i["verdict"] == "manual" and not i["conformant"]]
    if problems or manual_fail:
        rows = "".join(
            f"<tr><td><a href='#{_anchor(i['id'])}'>{_e(i['id'])}</a></td>"
            f"<td>{_e(i['level'])}</td><td>{_badge(i['verdict'])}</td>"
            f"<td>{_e(i['reason'])}</td></tr>" for i in problems + manual_fail)
        parts.append("<h3>What did not conform, and why</h3><table><tr><th>item</th>"
                     f"<th>level</th><th>verdict</th><th>reason</th></tr>{rows}</table>")
    else:
        parts.append("<p>Every evaluated item conforms.</p>")
    waived = [i for i in items if i["verdict"] == "waived"]
    expired = [(i["id"], n) for i in items for n in i["notes"] if n.startswith("waiver expired")]
    if waived or expired:
        rows = "".join(f"<tr><td><a href='#{_anchor(i['id'])}'>{_e(i['id'])}</a></td>"
                       f"<td>{_badge('waived')}</td><td>{_e(i['reason'])} (automated: "
                       f"{_e(i['automated_verdict'])})</td></tr>" for i in waived)
        rows += "".join(f"<tr><td><a href='#{_anchor(i)}'>{_e(i)}</a></td><td>expired</td>"
                        f"<td>{_e(n)}</td></tr>" for i, n in expired)
        parts.append(f"<h3>Waivers</h3><table>{rows}</table>")
    baseline = report.get("baseline")
    if baseline:
        regressions = [c for c in baseline["changes"] if c["kind"] == "regression"]
        worse = [d for d in baseline["drift"] if d["status"] == "worse"]
        parts.append(f"<p>Since the baseline (run {_e(baseline['run_id'])}): "
                     f"<b>{len(regressions)} regression(s)</b>, {len(worse)} measurement(s) "
                     f"worse beyond their band, {len(baseline['missing'])} item(s) missing — "
                     "<a href='#baseline'>details</a>.</p>")
    parts.append("</section>")
    return "".join(parts)


def _scope(report: dict[str, Any]) -> str:
    target, run, scope, standard = (report["target"], report["run"], report["scope"],
                                    report["standard"])
    flags = [name for name, on in (("read-only", run["readonly"]),
                                   ("disruptive checks allowed", run["disruptive"])) if on]
    if run["sandbox_faults"]:
        flags.append("sandbox faults: " + ", ".join(run["sandbox_faults"]))
    rows = [
        ("target", target["name"]),
        ("target fingerprint", target["fingerprint"]),
        ("adapters", ", ".join(target["adapters"])),
        ("standard", f"{standard['title_zh']} / {standard['title_en']}"),
        ("edition", f"{standard['edition']} ({standard['status']})"),
        ("tool", f"{report['tool']['name']} {report['tool']['version']}"),
        ("grading scheme", f"{report['grading']['scheme']} ({report['grading']['status']})"),
        ("scope", scope["statement"]),
        ("selection", scope["selection_text"] or "the whole catalogue"),
        ("chapters", ", ".join(str(c) for c in scope["chapters"])),
        ("started", run["started"]),
        ("finished", run["finished"]),
        ("run id", run["id"]),
        ("options", ", ".join(flags) or "none"),
    ]
    return f'<section id="scope" class="page-break"><h2>Scope and identity 范围</h2>{_kv(rows)}'\
        "</section>"


def _laboratory(report: dict[str, Any]) -> str:
    info = report["target"].get("evaluation") or {}
    period = " – ".join(str(info[k]) for k in ("start", "end") if info.get(k))
    rows = [("laboratory", info.get("laboratory")), ("accreditation", info.get("accreditation")),
            ("client", info.get("client")), ("report number", info.get("report_id")),
            ("location", info.get("location")), ("evaluation period", period),
            ("evaluator", info.get("evaluator")), ("approver", info.get("approver"))]
    note = "" if any(v for _, v in rows) else (
        "<p class='meta'>The target file has no <code>evaluation:</code> section: fill in "
        "laboratory, evaluator, approver, client, report_id, start and end.</p>")
    sign = ("<div class='sign'><div>Evaluator 评估人: " + _e(info.get("evaluator") or "")
            + "<br><span class='meta'>signature and date</span></div><div>Approver 批准人: "
            + _e(info.get("approver") or "") + "<br><span class='meta'>signature and date"
            "</span></div></div>")
    return (f'<section id="laboratory"><h2>Laboratory and evaluator 评估机构</h2>{_kv(rows)}'
            f"{note}{sign}</section>")


def _scores(report: dict[str, Any]) -> str:
    head = "".join(f"<th>{_e(_LABELS[v])}</th>" for v in VERDICTS)

    def row(label: str, entry: dict[str, Any]) -> str:
        cells = "".join(f'<td class="num">{entry["counts"][v]}</td>' for v in VERDICTS)
        return (f"<tr><td>{label}</td><td class='num'>{entry['items']}</td>{cells}"
                f"<td class='num'>{percent(entry['score'])}</td>"
                f"<td>{'yes' if entry['conformant'] else 'no'}</td></tr>")

    rows = "".join(row(f"{_e(d['chapter'])} {_e(d['name_zh'])} {_e(d['name_en'])}", d)
                   for d in report["domains"])
    rows += row("<b>overall</b>", report["overall"])
    return (f'<section id="scores" class="page-break"><h2>Scores 得分</h2><table><tr>'
            f"<th>domain</th><th>items</th>{head}<th>score</th><th>conformant</th></tr>{rows}"
            f"</table><h3>Subdomains</h3>{subdomain_chart(report['subdomains'])}"
            f"<p class='banner provisional'>The grade follows the "
            f"{_e(report['overall']['grade_status'])} scheme {_e(report['grading']['scheme'])}"
            ": the standard's own evaluation method (chapter 5) is not published yet. Score = "
            "conforming weight / weight in scope (shall 1.0, may 0.5).</p></section>")


def _baseline(report: dict[str, Any]) -> str:
    section = report.get("baseline")
    if not section:
        return ""
    parts = [f'<section id="baseline"><h2>Since the baseline 与基线相比</h2><p>Baseline: run '
             f"{_e(section['run_id'])} ({_e(section.get('started') or '')}), score "
             f"{percent(section['score_before'] or 0)} → {percent(section['score_after'] or 0)}"
             "</p>"]
    for warning in section["identity"]["warnings"]:
        parts.append(f"<p class='banner warn'>⚠ {_e(warning)}</p>")
    if section["changes"]:
        rows = "".join(f"<tr><td>{_e(c['kind'])}</td><td><a href='#{_anchor(c['id'])}'>"
                       f"{_e(c['id'])}</a></td><td>{_badge(c['before'])} → {_badge(c['after'])}"
                       f"</td><td>{_e(c['reason'])}</td></tr>" for c in section["changes"])
        parts.append(f"<h3>Verdicts that changed</h3><table><tr><th>change</th><th>item</th>"
                     f"<th>verdict</th><th>reason</th></tr>{rows}</table>")
    else:
        parts.append("<p>No verdict changed.</p>")
    if section["missing"]:
        parts.append(f"<p><b>Missing from this run</b> ({len(section['missing'])}): "
                     f"{_e(', '.join(section['missing']))}</p>")
    if section["new_items"]:
        parts.append(f"<p>New in this run: {_e(', '.join(section['new_items']))}</p>")
    if section["drift"]:
        rows = "".join(
            f"<tr><td>{_e(d['status'])}</td><td><a href='#{_anchor(d['id'])}'>{_e(d['id'])}</a>"
            f"</td><td>{_e(d['name'])}</td><td class='num'>{_e(quantity(d['before'], d['unit']))}"
            f"</td><td class='num'>{_e(quantity(d['after'], d['unit']))}</td><td class='num'>"
            + (f"{d['change']:+.1%}" if d["change"] is not None else "—")
            + f"</td><td class='num'>±{d['band']:.0%}</td></tr>" for d in section["drift"])
        parts.append("<h3>Measurements</h3><table><tr><th>status</th><th>item</th><th>figure"
                     "</th><th>baseline</th><th>this run</th><th>change</th><th>band</th></tr>"
                     f"{rows}</table>")
    parts.append("</section>")
    return "".join(parts)


def _preflight(report: dict[str, Any]) -> str:
    adapters = report.get("preflight") or []
    if not adapters:
        return ""
    def findings(adapter: dict[str, Any]) -> str:
        return "<br>".join(_e(f"{f['status']} {f['check']}: {f['detail']}")
                           for f in adapter["findings"])

    rows = "".join(
        f"<tr><td>{_e(a['transport'])}</td><td>{'usable' if a['usable'] else '<b>UNUSABLE</b>'}"
        f"</td><td>{findings(a)}</td><td>{_e(', '.join(a['serves']))}</td></tr>"
        for a in adapters)
    return ('<section id="preflight"><h2>Preflight 预检</h2><table><tr><th>adapter</th>'
            f"<th>state</th><th>findings</th><th>serves</th></tr>{rows}</table></section>")


def _contents(report: dict[str, Any]) -> str:
    items_by_sub: dict[str, list[dict[str, Any]]] = {}
    for item in report["items"]:
        items_by_sub.setdefault(item["subdomain"], []).append(item)
    sections = [("summary", "Summary"), ("scope", "Scope and identity"),
                ("laboratory", "Laboratory and evaluator"), ("scores", "Scores")]
    if report.get("baseline"):
        sections.append(("baseline", "Since the baseline"))
    if report.get("preflight"):
        sections.append(("preflight", "Preflight"))
    sections.append(("items", "Items"))
    parts = ['<nav id="contents" class="screen-only"><h2>Contents 目录</h2><ol>']
    parts += [f"<li><a href='#{a}'>{_e(t)}</a></li>" for a, t in sections]
    parts.append("</ol>")
    for domain in report["domains"]:
        parts.append(f"<h3><a href='#domain-{_e(domain['id'])}'>{_e(domain['chapter'])} "
                     f"{_e(domain['name_zh'])} {_e(domain['name_en'])}</a></h3><ol class='items'>")
        for sub in (s for s in report["subdomains"] if s["domain"] == domain["id"]):
            links = " ".join(
                f"<a href='#{_anchor(i['id'])}' title='{_e(i['verdict'])}'>{_e(i['id'])}</a>"
                f"<span style='color:{_COLOURS[i['verdict']]}'>●</span>"
                for i in items_by_sub.get(sub["id"], []))
            parts.append(f"<li><a href='#sub-{_e(sub['id'])}'>{_e(sub['id'])} "
                         f"{_e(sub['name_en'])}</a>: {links}</li>")
        parts.append("</ol>")
    parts.append("</nav>")
    return "".join(parts)


def _item(item: dict[str, Any]) -> str:
    parts = [f'<article class="item" id="{_e(_anchor(item["id"]))}"><header>'
             f'<span class="id">{_e(item["id"])}</span>{_badge(item["verdict"])}'
             f'<span class="meta">{_e(item["level"])}</span>{_source_mark(item["source"])}'
             "</header>",
             f'<div class="req">{_e(item["text_zh"])}<br><span class="meta">'
             f'{_e(item["text_en"])}</span></div>']
    if item["reason"]:
        parts.append(f"<p><b>Reason:</b> {_e(item['reason'])}</p>")
    if item["verdict"] in ("manual", "waived") and item.get("automated_verdict"):
        parts.append(f"<p class='meta'>automated verdict: {_e(item['automated_verdict'])}</p>")
    manual = item.get("manual")
    if manual:
        parts.append(f"<p class='meta'>evaluator's verdict {_e(manual['verdict'])} by "
                     f"{_e(manual['reviewer'])} on {_e(manual['date'])}, "
                     f"{_e(manual['document'])}"
                     + (f": {_e(manual['note'])}" if manual.get("note") else "") + "</p>")
    waiver = item.get("waiver")
    if waiver:
        parts.append(f"<p class='meta'>waiver until {_e(waiver['expires'])}"
                     + (f", approved by {_e(waiver['approved_by'])}"
                        if waiver.get("approved_by") else "") + "</p>")
    for note in item["notes"]:
        parts.append(f"<p class='meta'>{_e(note)}</p>")
    if item["measurements"]:
        rows = "".join(f"<li>{_e(measurement_text(m))}"
                       + (f" <span class='meta'>({_e(m['reference'])})</span>"
                          if m.get("reference") else "") + "</li>"
                       for m in item["measurements"])
        parts.append(f"<ul>{rows}</ul>")
    tests = "".join(
        f"<li>{_badge(t['verdict'])} <code>{_e(t['nodeid'])}</code> "
        f"<span class='meta'>{number(round(t['duration'], 2))} s"
        + (f"; automated {_e(t['outcome'])}" if t["outcome"] != t["verdict"] else "")
        + "</span></li>" for t in item["tests"])
    parts.append(f"<p class='meta'>tests ({len(item['tests'])}):</p><ul>{tests}</ul>")
    for evidence in item["evidence"]:
        cut = " (excerpt)" if evidence.get("truncated") else ""
        body = f"<pre>{_e(evidence['content'])}</pre>"
        parts.append(f"<details class='screen-only'><summary>{_e(evidence['name'])}{cut}"
                     f"</summary>{body}</details><div class='print-only'><p class='meta'>"
                     f"evidence: {_e(evidence['name'])}{cut}</p>{body}</div>")
    parts.append("</article>")
    return "".join(parts)


def _items(report: dict[str, Any]) -> str:
    parts = ['<section id="items">']
    for domain in report["domains"]:
        parts.append(f"<h2 id='domain-{_e(domain['id'])}' class='page-break'>"
                     f"{_e(domain['chapter'])} {_e(domain['name_zh'])} {_e(domain['name_en'])}"
                     f" — {percent(domain['score'])}</h2>")
        for sub in (s for s in report["subdomains"] if s["domain"] == domain["id"]):
            parts.append(f"<h3 id='sub-{_e(sub['id'])}'>{_e(sub['id'])} {_e(sub['name_zh'])} "
                         f"{_e(sub['name_en'])} <span class='meta'>{percent(sub['score'])}"
                         "</span></h3>")
            parts += [_item(i) for i in report["items"] if i["subdomain"] == sub["id"]]
    parts.append("</section>")
    return "".join(parts)


def _explanations(report: dict[str, Any]) -> str:
    sources = Counter(i["source"] for i in report["items"])
    return (
        '<section id="notes"><h2>How to read this report</h2><ul>'
        "<li><b>pass</b> the check ran and the requirement holds; <b>fail</b> it does not; "
        "<b>error</b> the check could not finish (shown apart from fail); <b>not assessed</b> "
        "the target gives no means to check; <b>manual</b> an evaluator's verdict from "
        "evidence named in the target file; <b>waived</b> an accepted deviation with a reason "
        "and an expiry date (the automated verdict stays in the record).</li>"
        f"<li><span class='quoted'>quoted</span> requirement texts ({sources['notes']} here) "
        "are verbatim from Table 2 of the standard's explanatory notes; "
        f"<span class='derived'>derived text</span> ({sources['derived']} here) are "
        "reconstructed by pytest-sca from the subdomain title and referenced standards, "
        "not the standard's own words, and will be replaced by the published text.</li>"
        "<li>Secrets of the target file appear as <code>"
        f"{_e(report['target'].get('mask', '***'))}</code>.</li></ul></section>")


def render(report: dict[str, Any]) -> str:
    """The HTML page of a JSON report."""
    target, run, standard = report["target"], report["run"], report["standard"]
    overall = report["overall"]
    title = (f"pytest-sca — {target['name']} — {percent(overall['score'])}, "
             f"{grade_text(overall)}")
    body = "".join([
        f"<header><p class='meta'>{_e(standard['title_zh'])} / {_e(standard['title_en'])}, "
        f"{_e(standard['edition'])}</p><h1>Evaluation report 评估报告: {_e(target['name'])}</h1>"
        f"<p class='meta'>run {_e(run['id'])}, {_e(run['started'])} – {_e(run['finished'])}, "
        f"target fingerprint {_e(target['fingerprint'])}, pytest-sca "
        f"{_e(report['tool']['version'])}</p></header>",
        _summary(report), _contents(report), _scope(report), _laboratory(report),
        _scores(report), _baseline(report), _preflight(report), _items(report),
        _explanations(report),
        f"<footer>pytest-sca {_e(report['tool']['version'])}, report schema "
        f"{_e(report['schema_version'])}, run {_e(run['id'])}</footer>"])
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n{body}\n"
            "</body></html>\n")


def write(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


def render_file(json_path: Path, html_path: Path) -> Path:
    """Render a saved JSON report to HTML."""
    return write(json.loads(json_path.read_text(encoding="utf-8")), html_path)
