"""Workflow services of the sandbox: a ComfyUI-compatible prompt queue that really executes
image workflows (:mod:`comfy_nodes`), and the platform's workflow applications on top of it
(import, environment validation, publish, trial, invoke, run records, usage).

Every execution is one "prompt" of the queue, whether it came through ComfyUI's
``POST /prompt`` or the platform API; its record (kind ``workflow_run``) holds
ComfyUI's history entry and the platform's view (status, queue position,
per-node information and logs, durations). One worker executes the queue in
order, each run as fast as its nodes' work allows: like a real ComfyUI, a tiny
graph finishes in milliseconds, so whoever wants to watch the queue must queue
work that takes time (answers say ``simulated``: there is no image model).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.comfy_nodes import (
    UPSCALE_FILTERS,
    UPSCALE_MODELS,
    NodeContext,
    NodeType,
    node_types,
)
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.store import Document, Store, new_id, utc_ago, utc_now

#: The one workflow environment the sandbox offers: its node types and models.
ENVIRONMENT_ID = "comfyui-core-images"
#: How often the workflow usage summary is aggregated under ``workflow_usage_summary_stale``.
STALE_SUMMARY_SECONDS = 60
#: How long a workflow refuses another invocation under ``workflow_invocations_throttled``.
INVOKE_THROTTLE_SECONDS = 10.0


class PromptInvalid(Exception):
    """ComfyUI's 400 answer to an invalid prompt: ``error`` and ``node_errors``."""

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error
        self.node_errors = node_errors


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _is_link(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], int))


class WorkflowEngine:
    """The prompt queue, its worker, and the platform's workflow applications."""

    def __init__(self, store: Store, root: Path, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.input_dir = root / "input"
        self.output_dir = root / "output"
        self.input_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._running: str | None = None
        self._listing: tuple[list[str], list[str]] = ([], [])
        self._number = 0
        self._stopping = False
        self._last_invoked: dict[str, float] = {}
        self._worker = threading.Thread(target=self._work, name="sandbox-comfyui", daemon=True)

    def start(self) -> None:
        """End what a previous run left queued, then start executing the queue."""
        self._interrupted_by_restart()
        self._worker.start()

    def _interrupted_by_restart(self) -> None:
        """Runs a previous sandbox left queued or running on this state end in error."""
        for run in self.store.list("workflow_run"):
            if run["status"] in ("queued", "running"):
                run["messages"].append(["execution_interrupted", {
                    "prompt_id": run["id"], "node_id": None, "executed": []}])
                run.update(status="error", finished_at=utc_now())
                self.store.put("workflow_run", run)
            self._number = max(self._number, int(run.get("number", 0)))

    # node types and validation ------------------------------------------------------

    def upscalers(self) -> dict[str, tuple[int, int]]:
        """Upscale models: the shipped ones and every imported ``sca-upscale/1`` model."""
        imported = {f"{m['name']}.pth": (int(m["upscale"]["factor"]),
                                         UPSCALE_FILTERS[m["upscale"]["filter"]])
                    for m in self.store.list("model") if m.get("kind") == "image"}
        return {**UPSCALE_MODELS, **imported}

    def types(self) -> dict[str, NodeType]:
        return node_types([p.name for p in self.input_dir.iterdir() if p.is_file()],
                          self.upscalers())

    def validate(self, prompt: Any) -> tuple[list[str], dict[str, Any]]:
        """ComfyUI's validation of an API-format prompt: the output nodes that will run, and
        the errors of the nodes that failed. As in ComfyUI, each output is validated with the
        nodes it needs; a prompt with some valid outputs is queued with those (and its answer
        carries the others' ``node_errors``); :class:`PromptInvalid` when none is valid."""
        if not isinstance(prompt, dict) or not prompt:
            raise PromptInvalid(_error("invalid_prompt", "The prompt is not an API-format "
                                       "workflow object"), {})
        types = self.types()
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                raise PromptInvalid(_error("invalid_prompt", "Cannot execute because a node is "
                                           "missing the class_type property.",
                                           f"Node ID '#{node_id}'"), {})
            if node["class_type"] not in types:
                raise PromptInvalid(_error("invalid_prompt", f"Cannot execute because node "
                                           f"{node['class_type']} does not exist.",
                                           f"Node ID '#{node_id}'"), {})
        outputs = [n for n, node in prompt.items() if types[node["class_type"]].output_node]
        if not outputs:
            raise PromptInvalid(_error("prompt_no_outputs", "Prompt has no outputs"), {})
        checked: dict[str, list[dict[str, Any]]] = {}
        node_errors: dict[str, Any] = {}
        good: list[str] = []
        for output in outputs:
            valid = True
            for node_id in self._order(prompt, [output]):
                if node_id not in checked:
                    checked[node_id] = self._node_errors(prompt, prompt[node_id], types)
                if checked[node_id]:
                    valid = False
                    entry = node_errors.setdefault(node_id, {
                        "errors": checked[node_id], "dependent_outputs": [],
                        "class_type": prompt[node_id]["class_type"]})
                    entry["dependent_outputs"].append(output)
            if valid:
                good.append(output)
        if not good:
            details = "\n".join(f"{e['message']}: {e['details']}"
                                for entry in node_errors.values() for e in entry["errors"])
            raise PromptInvalid(_error("prompt_outputs_failed_validation",
                                       "Prompt outputs failed validation", details), node_errors)
        return good, node_errors

    def _node_errors(self, prompt: dict[str, Any], node: dict[str, Any],
                     types: dict[str, NodeType]) -> list[dict[str, Any]]:
        spec = types[node["class_type"]]
        inputs = node.get("inputs") or {}
        errors = []
        for name, declared in spec.inputs.items():
            kind = declared[0]
            options = declared[1] if len(declared) > 1 else {}
            if name not in inputs:
                if isinstance(options, dict) and "default" in options:
                    continue
                errors.append(_error("required_input_missing", "Required input is missing",
                                     name))
                continue
            value = inputs[name]
            if _is_link(value):
                source = prompt.get(value[0])
                produced = () if source is None else types[source["class_type"]].outputs
                if value[1] >= len(produced) or (isinstance(kind, str)
                                                  and produced[value[1]] != kind):
                    errors.append(_error("return_type_mismatch", "Return type mismatch "
                                         "between linked nodes", f"{name}, link {value}"))
            elif isinstance(kind, list):
                if value not in kind:
                    errors.append(_error("value_not_in_list", "Value not in list",
                                         f"{name}: '{value}' not in {kind}"))
            elif kind in ("INT", "FLOAT"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    errors.append(_error("invalid_input_type", "Failed to convert an input "
                                         "value to a number", f"{name}: {value!r}"))
                elif value < options.get("min", value) or value > options.get("max", value):
                    errors.append(_error("value_out_of_range", "Value out of range",
                                         f"{name}: {value}"))
            elif kind == "STRING" and not isinstance(value, str):
                errors.append(_error("invalid_input_type", "Value is not a string", name))
            elif kind not in ("INT", "FLOAT", "STRING"):
                errors.append(_error("invalid_input_type", f"Input {name} needs a link to a "
                                     f"{kind} output", name))
        return errors

    # the queue -------------------------------------------------------------------------

    def submit(self, who: Principal, prompt: dict[str, Any], *, client_id: str | None = None,
               workflow_id: str | None = None, kind: str = "prompt") -> Document:
        """Validate and queue a prompt; its run record (``node_errors``: the outputs that
        failed validation and will not run)."""
        outputs, node_errors = self.validate(prompt)
        with self._cond:
            self._number += 1
            run_id = str(uuid.uuid4())
            run = {"id": run_id, "tenant_id": who.tenant_id, "user_id": who.user_id,
                   "number": self._number, "prompt": prompt, "outputs_to_execute": outputs,
                   "node_errors": node_errors,
                   "client_id": client_id, "workflow_id": workflow_id, "kind": kind,
                   "status": "queued", "created_at": utc_now(), "started_at": None,
                   "finished_at": None, "nodes": [], "outputs": {}, "messages": [],
                   "labels": {}, "simulated": True}
            self.store.put("workflow_run", run)
            self._pending.append(run_id)
            self._listing = self._live()
            self._cond.notify_all()
        return run

    def _live(self) -> tuple[list[str], list[str]]:
        return ([self._running] if self._running else []), list(self._pending)

    def queue(self) -> tuple[list[str], list[str]]:
        """Run ids executing and waiting, in order (under ``queue_listing_stale``, the
        listing as it was when the last prompt was queued, until the queue is idle)."""
        with self._cond:
            live = self._live()
            if Fault.QUEUE_LISTING_STALE not in self.faults or not (live[0] or live[1]):
                return live
            return self._listing

    def queue_item(self, run_id: str) -> list[Any] | None:
        """A run as an entry of ComfyUI's ``/queue``: number, id, prompt, extra, outputs."""
        run = self.store.get("workflow_run", run_id)
        if run is None:
            return None
        return [run["number"], run["id"], run["prompt"], {"client_id": run["client_id"]},
                run["outputs_to_execute"]]

    def position(self, run_id: str) -> int | None:
        """0 while running, 1.. while waiting, None when finished (or the fault hides it)."""
        if Fault.QUEUE_POSITION_MISSING in self.faults:
            return None
        running, pending = self.queue()
        if run_id in running:
            return 0
        return pending.index(run_id) + 1 if run_id in pending else None

    def delete_queued(self, run_ids: list[str]) -> None:
        with self._cond:
            for run_id in run_ids:
                if run_id in self._pending:
                    self._pending.remove(run_id)
                    self.store.update("workflow_run", run_id,
                                      lambda r: r.update(status="cancelled"))

    def close(self) -> None:
        """Stop the queue's worker (a run it is executing finishes first, bounded)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=5)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait(timeout=1.0)
                if self._stopping:
                    return
                run_id = self._pending.pop(0)
                self._running = run_id
            try:
                self._execute(run_id)
            except sqlite3.ProgrammingError:
                return  # the platform closed its store while a run was executing
            finally:
                with self._cond:
                    self._running = None

    def _execute(self, run_id: str) -> None:
        run = self.store.get("workflow_run", run_id)
        if run is None:
            return
        started = time.monotonic()
        run.update(status="running", started_at=utc_now())
        run["messages"].append(["execution_start", {"prompt_id": run_id,
                                                    "timestamp": int(time.time() * 1000)}])
        self.store.put("workflow_run", run)
        types = self.types()
        upscalers = self.upscalers()
        results: dict[str, tuple[Any, ...]] = {}
        saved: list[dict[str, str]] = []
        outputs: dict[str, Any] = {}
        status = "success"
        try:
            for node_id in self._order(run["prompt"], run["outputs_to_execute"]):
                node = run["prompt"][node_id]
                record = {"node_id": node_id, "class_type": node["class_type"],
                          "status": "running", "started_at": utc_now(), "log": []}
                run["nodes"].append(record)
                spec = types[node["class_type"]]
                args = {name: (results[value[0]][value[1]] if _is_link(value) else value)
                        for name, value in (node.get("inputs") or {}).items()
                        if name in spec.inputs}
                for name, declared in spec.inputs.items():
                    if name not in args and len(declared) > 1 and isinstance(declared[1], dict):
                        args[name] = declared[1].get("default")
                before = len(saved)
                ctx = NodeContext(self.input_dir, self.output_dir, self.faults,
                                  record["log"].append, saved, upscalers)
                try:
                    results[node_id] = spec.run(ctx, **args)
                except Exception as exc:  # noqa: BLE001 - a node's failure is the run's result
                    record.update(status="error", finished_at=utc_now())
                    record["log"].append(f"error: {type(exc).__name__}: {exc}")
                    run["messages"].append(["execution_error", {
                        "prompt_id": run_id, "node_id": node_id,
                        "node_type": node["class_type"], "exception_message": str(exc),
                        "exception_type": type(exc).__name__}])
                    status = "error"
                    break
                record.update(status="success", finished_at=utc_now())
                if len(saved) > before:
                    outputs[node_id] = {"images": saved[before:]}
        finally:
            duration = round(time.monotonic() - started, 6)
            if status == "success":
                run["messages"].append(["execution_success", {
                    "prompt_id": run_id, "timestamp": int(time.time() * 1000)}])
            run.update(status="success" if status == "success" else "error",
                       finished_at=utc_now(), duration_s=duration, outputs=outputs)
            self.store.put("workflow_run", run)

    @staticmethod
    def _order(prompt: Mapping[str, Any], outputs: Iterable[str]) -> list[str]:
        """The node ids ``outputs`` need, each after the nodes it links to."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in ordered or node_id in visiting:
                return
            visiting.add(node_id)
            for value in (prompt[node_id].get("inputs") or {}).values():
                if _is_link(value) and value[0] in prompt:
                    visit(value[0])
            ordered.append(node_id)

        for node_id in outputs:
            visit(node_id)
        return ordered

    # records ----------------------------------------------------------------------------

    def run(self, who: Principal, run_id: str) -> Document:
        run = self.store.get("workflow_run", run_id)
        if run is None or not (who.is_platform_admin or run["tenant_id"] == who.tenant_id):
            raise not_found(f"workflow run {run_id}")
        return run

    def forget(self, who: Principal, run_ids: list[str]) -> None:
        """ComfyUI's ``POST /history {"delete": [...]}``: drop the caller's finished (or
        dequeued) prompts from the history (unknown ids, others' and unfinished runs are left
        alone)."""
        for run_id in run_ids:
            run = self.store.get("workflow_run", run_id)
            if (run is not None and run["status"] in ("success", "error", "cancelled")
                    and (who.is_platform_admin or run["tenant_id"] == who.tenant_id)):
                self.store.delete("workflow_run", run_id)

    def history_entry(self, run: Document) -> dict[str, Any]:
        """ComfyUI's ``/history`` entry of a run."""
        done = run["status"] in ("success", "error")
        return {
            "prompt": [run["number"], run["id"], run["prompt"], {"client_id": run["client_id"]},
                       run["outputs_to_execute"]],
            "outputs": run["outputs"],
            "status": {"status_str": run["status"] if done else "running",
                       "completed": run["status"] == "success", "messages": run["messages"]},
            "meta": {node_id: {"node_id": node_id, "display_node": node_id,
                               "parent_node": None, "real_node_id": node_id}
                     for node_id in run["outputs"]},
        }

    def platform_run(self, run: Document, api_url: str) -> Document:
        """The platform API's view of a run."""
        files = [image for output in run["outputs"].values() for image in output["images"]]
        answer = {
            "id": run["id"], "workflow_id": run["workflow_id"], "kind": run["kind"],
            "status": {"success": "succeeded", "error": "failed"}.get(run["status"],
                                                                        run["status"]),
            "queue_position": self.position(run["id"]), "user_id": run["user_id"],
            "tenant_id": run["tenant_id"], "created_at": run["created_at"],
            "started_at": run["started_at"], "finished_at": run["finished_at"],
            "duration_s": run.get("duration_s"), "labels": run["labels"], "simulated": True,
            "outputs": [{**f, "url": f"{api_url}api/v1/workflow-runs/{run['id']}/outputs/"
                         f"{f['filename']}"} for f in files],
            "nodes": [{k: v for k, v in n.items() if k != "log"} for n in run["nodes"]],
            "logs": "".join(f"[{n['node_id']} {n['class_type']}] {line}\n"
                            for n in run["nodes"] for line in n["log"]),
        }
        if Fault.WORKFLOW_NODE_LOGS_MISSING in self.faults:
            answer["nodes"], answer["logs"] = [], ""
        return answer

    def list_runs(self, who: Principal, workflow_id: str | None) -> list[Document]:
        tenant = None if who.is_platform_admin else who.tenant_id
        return [r for r in self.store.list("workflow_run", tenant_id=tenant)
                if workflow_id is None or r["workflow_id"] == workflow_id]

    def output_bytes(self, who: Principal, run_id: str, filename: str) -> bytes:
        run = self.run(who, run_id)
        names = {i["filename"] for o in run["outputs"].values() for i in o["images"]}
        if filename not in names:
            raise not_found(f"output {filename} of run {run_id}")
        return self.view(filename, "output")

    def view(self, filename: str, folder: str) -> bytes:
        """An input or output image's bytes (ComfyUI's ``/view``)."""
        base = self.output_dir if folder == "output" else self.input_dir
        path = base / filename
        if "/" in filename or filename.startswith(".") or not path.is_file():
            raise not_found(f"image {filename}")
        data = path.read_bytes()
        if folder == "output" and Fault.WORKFLOW_OUTPUT_CORRUPT in self.faults:
            return data[:24]
        return data

    def usage(self, who: Principal, since: str | None, until: str | None,
              user_id: str | None) -> Document:
        """Workflow runs of the period: counts, statuses, durations."""
        runs = [r for r in self.list_runs(who, None)
                if (since is None or r["created_at"] >= since)
                and (until is None or r["created_at"] <= until)
                and (user_id is None or r["user_id"] == user_id)]
        if Fault.WORKFLOW_USAGE_NOT_RECORDED in self.faults:
            runs = []
        items = [{"run_id": r["id"], "workflow_id": r["workflow_id"], "user_id": r["user_id"],
                  "kind": r["kind"], "status": self.platform_run(r, "")["status"],
                  "time": r["created_at"], "duration_s": r.get("duration_s")}
                 for r in runs]
        if Fault.WORKFLOW_USAGE_DURATION_ZERO in self.faults:
            for item in items:
                item["duration_s"] = 0.0 if item["duration_s"] is not None else None
        counted = items
        if Fault.WORKFLOW_USAGE_SUMMARY_STALE in self.faults:
            aggregated = utc_ago(STALE_SUMMARY_SECONDS)
            counted = [i for i in items if i["time"] <= aggregated]
        statuses = [i["status"] for i in counted]
        return {"items": items, "summary": {
            "workflows": len({i["workflow_id"] for i in counted if i["workflow_id"]}),
            "runs": len(counted), "succeeded": statuses.count("succeeded"),
            "failed": statuses.count("failed"),
            "duration_s": round(sum(i["duration_s"] or 0 for i in counted), 6)}}

    # workflow applications -------------------------------------------------------------

    def environments(self) -> list[Document]:
        return [{"id": ENVIRONMENT_ID, "node_types": sorted(self.types()),
                 "models": {"upscale_models": sorted(self.upscalers())}}]

    def import_workflow(self, who: Principal, name: str, workflow: Any,
                        labels: dict[str, str]) -> Document:
        """Import ComfyUI API-format JSON (an object, or its text)."""
        if isinstance(workflow, str):
            try:
                workflow = json.loads(workflow)
            except ValueError as exc:
                if Fault.WORKFLOW_INVALID_JSON_ACCEPTED not in self.faults:
                    raise ApiError(422, "invalid_workflow",
                                   f"the workflow is not valid JSON: {exc}") from None
                workflow = {}
        if isinstance(workflow, dict) and "nodes" in workflow and "links" in workflow:
            raise ApiError(422, "invalid_workflow", "this is ComfyUI's UI-format workflow: "
                           "export it with 'Save (API Format)'")
        if not isinstance(workflow, dict):
            raise ApiError(422, "invalid_workflow", "the workflow must be a JSON object of "
                           "node id → {class_type, inputs}")
        for node_id, node in workflow.items():
            if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
                raise ApiError(422, "invalid_workflow",
                               f"node {node_id!r} has no class_type: not an API-format workflow")
        doc = {"id": new_id("wf"), "tenant_id": who.tenant_id, "owner": who.user_id,
               "name": name, "workflow": workflow, "published": False,
               "environment": {"id": None, "status": "unvalidated", "missing_node_types": [],
                               "missing_models": [], "validated_at": None},
               "node_types": sorted({n["class_type"] for n in workflow.values()}),
               "created_at": utc_now(), "labels": labels}
        return self.store.put("workflow", doc)

    def workflow(self, who: Principal, workflow_id: str) -> Document:
        doc = self.store.get("workflow", workflow_id)
        if doc is None or not (who.is_platform_admin or doc["tenant_id"] == who.tenant_id):
            raise not_found(f"workflow {workflow_id}")
        return doc

    def list_workflows(self, who: Principal) -> list[Document]:
        tenant = None if who.is_platform_admin else who.tenant_id
        return self.store.list("workflow", tenant_id=tenant)

    def configure(self, who: Principal, workflow_id: str, environment_id: str) -> Document:
        """Attach an environment and validate the workflow against it at once."""
        self.workflow(who, workflow_id)
        if environment_id != ENVIRONMENT_ID:
            raise ApiError(422, "invalid_request", f"unknown environment {environment_id!r}: "
                           f"the sandbox offers {ENVIRONMENT_ID}")
        return self.validate_environment(who, workflow_id, environment_id)

    def validate_environment(self, who: Principal, workflow_id: str,
                             environment_id: str | None = None) -> Document:
        doc = self.workflow(who, workflow_id)
        environment_id = environment_id or doc["environment"]["id"] or ENVIRONMENT_ID
        types = self.types()
        missing_nodes = sorted({n["class_type"] for n in doc["workflow"].values()
                                if n["class_type"] not in types})
        missing_models = sorted({str(n.get("inputs", {}).get("model_name"))
                                 for n in doc["workflow"].values()
                                 if n["class_type"] == "UpscaleModelLoader"
                                 and n.get("inputs", {}).get("model_name")
                                 not in self.upscalers()})
        if Fault.WORKFLOW_ENV_NOT_VALIDATED in self.faults:
            missing_nodes, missing_models = [], []
        status = "unavailable" if missing_nodes or missing_models else "available"
        if Fault.WORKFLOW_ENV_REASON_MISSING in self.faults:
            missing_nodes, missing_models = [], []
        environment = {"id": environment_id, "validated_at": utc_now(), "status": status,
                       "missing_node_types": missing_nodes, "missing_models": missing_models}
        return self.store.update("workflow", workflow_id,
                                 lambda d: d.update(environment=environment)) or doc

    def set_published(self, who: Principal, workflow_id: str, published: bool) -> Document:
        doc = self.workflow(who, workflow_id)
        if published and doc["environment"]["status"] != "available":
            raise ApiError(409, "conflict", f"workflow {workflow_id}'s environment is "
                           f"{doc['environment']['status']}: configure and validate it first")
        return self.store.update("workflow", workflow_id,
                                 lambda d: d.update(published=published)) or doc

    def delete_workflow(self, who: Principal, workflow_id: str) -> None:
        self.workflow(who, workflow_id)
        if Fault.WORKFLOW_DELETE_IGNORED not in self.faults:
            self.store.delete("workflow", workflow_id)

    def start_run(self, who: Principal, workflow_id: str, inputs: dict[str, dict[str, Any]],
                  kind: str) -> Document:
        """A trial (needs an available environment) or an invocation (needs publication)."""
        doc = self.workflow(who, workflow_id)
        if doc["environment"]["status"] != "available":
            raise ApiError(409, "conflict", f"workflow {workflow_id}'s environment is "
                           f"{doc['environment']['status']}")
        if kind == "invoke":
            self._throttle(workflow_id)
        if kind == "invoke" and not doc["published"] \
                and Fault.WORKFLOW_UNPUBLISH_IGNORED not in self.faults:
            raise ApiError(409, "conflict", f"workflow {workflow_id} is not published")
        prompt = json.loads(json.dumps(doc["workflow"]))
        for node_id, values in inputs.items():
            if node_id not in prompt:
                raise ApiError(422, "invalid_request", f"the workflow has no node {node_id!r}")
            prompt[node_id].setdefault("inputs", {}).update(values)
        try:
            return self.submit(who, prompt, workflow_id=workflow_id, kind=kind)
        except PromptInvalid as exc:
            raise ApiError(422, "invalid_request", f"{exc.error['message']}: "
                           f"{json.dumps(exc.node_errors)[:400]}") from None

    def _throttle(self, workflow_id: str) -> None:
        """The 429 of an invocation too soon after the last, under
        ``workflow_invocations_throttled`` (checked before publication, as a rate limit at a
        gateway would be)."""
        if Fault.WORKFLOW_INVOCATIONS_THROTTLED not in self.faults:
            return
        now = time.monotonic()
        with self._cond:
            last = self._last_invoked.get(workflow_id)
            if last is None or now - last >= INVOKE_THROTTLE_SECONDS:
                self._last_invoked[workflow_id] = now
                return
        raise ApiError(429, "rate_limit_exceeded",
                       f"workflow {workflow_id} was invoked less than "
                       f"{INVOKE_THROTTLE_SECONDS:g} s ago")

    def save_input(self, filename: str, data: bytes, overwrite: bool) -> str:
        """Store an input image; the name it got (ComfyUI renames instead of overwriting)."""
        safe = "".join(c for c in filename if c.isalnum() or c in "-_.")[:100].lstrip(".")
        safe = safe or "upload.png"
        name, counter = safe, 1
        stem, dot, suffix = safe.rpartition(".")
        while (self.input_dir / name).exists() and not overwrite:
            name = f"{stem or suffix} ({counter}){dot}{suffix if stem else ''}"
            counter += 1
        (self.input_dir / name).write_bytes(data)
        return name
