"""The web console: a small HTML page at ``/`` that shows the platform and links its API.

It reads nothing secret and needs no key: the page's script asks the API with
the key a person pastes into it, like a console's login would.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from pytest_sca import __version__
from pytest_sca.sandbox.core import SandboxPlatform
from pytest_sca.sandbox.faults import Fault

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:left}}</style>
</head>
<body>
<h1>{title}</h1>
<p>Version {version}. Hardware is simulated. API description:
<a href="/openapi.json">/openapi.json</a> (interactive: <a href="/docs">/docs</a>).</p>
<p><label>API key <input id="key" type="password" size="40"></label>
<button onclick="load()">Show my jobs and dev machines</button></p>
<table id="jobs"><tr><th>job</th><th>status</th><th>logs</th></tr></table>
<table id="dev"><tr><th>dev machine</th><th>status</th><th>image</th></tr></table>
<script>
async function get(path) {{
  const key = document.getElementById('key').value;
  const r = await fetch('/api/v1' + path, {{headers: {{Authorization: 'Bearer ' + key}}}});
  return r.json();
}}
function row(table, cells) {{
  const tr = document.createElement('tr');
  for (const c of cells) {{ const td = document.createElement('td');
    td.textContent = c; tr.appendChild(td); }}
  document.getElementById(table).appendChild(tr);
}}
async function load() {{
  for (const j of (await get('/jobs')).items || [])
    row('jobs', [j.name, j.status, '/api/v1/jobs/' + j.id + '/logs']);
  for (const d of (await get('/devmachines')).items || [])
    row('dev', [d.name, d.status, d.image]);
}}
</script>
</body>
</html>
"""


def router(platform: SandboxPlatform) -> APIRouter:
    """The console page over ``platform``."""
    routes = APIRouter()

    @routes.get("/", name="console.page", include_in_schema=False)
    def console() -> Response:
        if Fault.WEB_CONSOLE_MISSING in platform.faults:
            return JSONResponse({"error": {"code": "not_found", "message": "no console here"}},
                                status_code=404)
        title = escape("pytest-sca reference platform console")
        return HTMLResponse(_PAGE.format(title=title, version=escape(__version__)))

    return routes
