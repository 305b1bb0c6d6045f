"""A stand-in for the cluster's Prometheus in the emulated cluster (a TEST DOUBLE: the
emulated kubelet runs it for the ``quay.io/prometheus/prometheus`` image of
``fixtures/prometheus.yaml``).

Every second it "scrapes" what the controllers list in the scrape table (``SCA_EMU_SCRAPE``,
written by :meth:`tests.kube.controllers.Controllers.write_scrape_table`):

- the kubelet's cAdvisor: ``container_cpu_usage_seconds_total{namespace, pod, container}``,
  the CPU time of each running container's process (``/proc/<pid>/stat``: utime + stime of
  the process and its waited-for children), as cAdvisor reports the container's cgroup
  (https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md);
- each node's card exporter, with the upstream metric names and labels: DCGM exporter
  ``DCGM_FI_DEV_GPU_UTIL{gpu, UUID, device, modelName, Hostname}`` on port 9400
  (https://github.com/NVIDIA/dcgm-exporter README;
  https://docs.nvidia.com/datacenter/dcgm/latest/reference/dcgm-exporter-metrics.html), Ascend
  npu-exporter
  ``npu_chip_info_utilization{id}``, Cambricon ``mlu_utilization{mlu}``, Hygon
  ``dcu_utilizationrate{device_id}``; every series also carries ``instance`` (the node's
  address: exporters run as host-network DaemonSets) and ``job``.

It answers the HTTP API's instant query (https://prometheus.io/docs/prometheus/latest/
querying/api/#instant-queries) for a selector ``name{label="v",label!="v",label=~"re"}``,
as a ``vector`` of each series' newest sample within the 5-minute lookback, or with a
range ``[Ns]`` as a ``matrix`` of the raw samples in ``(time - N, time]`` — the only PromQL
the adapter sends. Faults in the table: ``cadvisor_not_scraped`` (no container series),
``dcgm_exporter_down`` (no DCGM series).
"""

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TABLE = os.environ["SCA_EMU_SCRAPE"]
TICK = os.sysconf("SC_CLK_TCK")
RETENTION_S = 600
LOOKBACK_S = 300
#: resource prefix → (exporter job, metric, card label, port)
EXPORTERS = {
    "nvidia.com/gpu": ("dcgm-exporter", "DCGM_FI_DEV_GPU_UTIL", "gpu", 9400),
    "huawei.com/Ascend": ("npu-exporter", "npu_chip_info_utilization", "id", 8082),
    "cambricon.com/mlu": ("cambricon-mlu-exporter", "mlu_utilization", "mlu", 30108),
    "hygon.com/dcu": ("dcu-exporter", "dcu_utilizationrate", "device_id", 16080),
}
SERIES: dict[tuple, list[tuple[float, float]]] = {}
LOCK = threading.Lock()
SELECTOR = re.compile(r'^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*(?:\[(\d+)s\])?\s*$')
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / TICK


def scrape() -> list[tuple[dict[str, str], float]]:
    try:
        with open(TABLE) as source:
            table = json.load(source)
    except (OSError, ValueError):
        return []
    faults = set(table.get("faults") or [])
    found = []
    if "cadvisor_not_scraped" not in faults:
        for c in table.get("containers") or []:
            value = cpu_seconds(c["pid"])
            if value is not None:
                found.append(({"__name__": "container_cpu_usage_seconds_total",
                               "namespace": c["namespace"], "pod": c["pod"],
                               "container": c["container"], "cpu": "total",
                               "instance": c["node_ip"], "job": "kubelet",
                               "metrics_path": "/metrics/cadvisor"}, value))
    for node in table.get("nodes") or []:
        for resource, count in node["cards"].items():
            exporter = next((e for prefix, e in EXPORTERS.items()
                             if resource.startswith(prefix)), None)
            if exporter is None or (exporter[0] == "dcgm-exporter"
                                    and "dcgm_exporter_down" in faults):
                continue
            job, metric, card_label, port = exporter
            for index in range(count):
                labels = {"__name__": metric, card_label: str(index), "job": job,
                          "instance": f"{node['ip']}:{port}"}
                if job == "dcgm-exporter":
                    labels.update(UUID=f"GPU-{node['name']}-{index}", device=f"nvidia{index}",
                                  modelName=node.get("model", ""), Hostname=node["name"])
                found.append((labels, float((index * 7 + int(time.time())) % 100)))
    return found


def scraper() -> None:
    while True:
        now = time.time()
        samples = scrape()
        with LOCK:
            for labels, value in samples:
                points = SERIES.setdefault(tuple(sorted(labels.items())), [])
                points.append((now, value))
                while points and points[0][0] < now - RETENTION_S:
                    points.pop(0)
        time.sleep(1.0)


def matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        if op == "=" and have != value or op == "!=" and have == value \
                or op == "=~" and not re.fullmatch(value, have):
            return False
    return True


def query(promql: str, at: float) -> dict:
    parsed = SELECTOR.match(promql)
    if parsed is None:
        raise ValueError(f"unsupported expression {promql!r}")
    name, body, window = parsed.groups()
    matchers = [(m[0], m[1], m[2].encode().decode("unicode_escape"))
                for m in MATCHER.findall(body or "")]
    result = []
    with LOCK:
        for key, points in SERIES.items():
            labels = dict(key)
            if labels["__name__"] != name or not matches(labels, matchers):
                continue
            if window:
                values = [[t, repr(v)] for t, v in points if at - int(window) < t <= at]
                if values:
                    result.append({"metric": labels, "values": values})
            else:
                recent = [(t, v) for t, v in points if at - LOOKBACK_S < t <= at]
                if recent:
                    labels.pop("__name__")
                    result.append({"metric": {"__name__": name, **labels},
                                   "value": [at, repr(recent[-1][1])]})
    return {"resultType": "matrix" if window else "vector", "result": result}


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/-/ready":
            self.answer(200, {"status": "success"})
        elif url.path == "/api/v1/query":
            try:
                at = float(params.get("time") or time.time())
                self.answer(200, {"status": "success",
                                  "data": query(params.get("query", ""), at)})
            except ValueError as exc:
                self.answer(400, {"status": "error", "errorType": "bad_data",
                                  "error": str(exc)})
        else:
            self.answer(404, {"status": "error", "errorType": "not_found", "error": url.path})

    def log_message(self, *args):
        pass


threading.Thread(target=scraper, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", 9090), Handler).serve_forever()
