"""Model services of the sandbox: preset and imported models, files, deployments, fine-tuning,
inference and its usage records.

State lives in the platform's store (kinds ``model``, ``file``, ``deployment``,
``finetune``, ``model_usage``); model artefacts and uploaded files live in the
tenant's bucket of the object storage (files in the state directory when the
sandbox runs without S3). Inference runs in-process on :mod:`lm` models.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_sca.sandbox import lm
from pytest_sca.sandbox.auth import Principal
from pytest_sca.sandbox.errors import ApiError, not_found
from pytest_sca.sandbox.faults import Fault, Faults
from pytest_sca.sandbox.s3 import ObjectStorage
from pytest_sca.sandbox.store import Document, Store, new_id, utc_ago, utc_now
from pytest_sca.sandbox.tenancy import Tenancy

LICENCE = "Apache-2.0"
#: The least time a deployment takes to load its model before it serves, so that its
#: ``deploying`` state is observable (a simulated load time: the model itself loads in ms).
DEPLOY_SECONDS = 0.3
#: How often the model usage summary is aggregated under ``model_usage_summary_stale``.
STALE_SUMMARY_SECONDS = 60
#: What every completion is sampled at under ``temperature_ignored``: hot enough that two
#: answers of a tiny model to one prompt all but never coincide (none in 300 pairs).
IGNORED_TEMPERATURE = 2.0
#: The resources a deployment gets when the caller chooses none.
DEFAULT_RESOURCES: dict[str, float] = {"cpu": 1.0, "memory_gib": 1.0, "accelerators": 0}
MAX_FILE_BYTES = 5_000_000
#: Fine-tuning trains on dense (tokens × vocabulary) matrices: bounded to stay in memory.
MAX_TRAINING_TOKENS = 20_000
MAX_NEW_WORDS = 2_000
#: The training file a job under fault ``finetune_trains_sample_file`` reports.
SAMPLE_FILE_ID = "file-platform-sample"


def _now_epoch() -> int:
    return int(time.time())


class ModelHub:
    """Models, files, deployments, fine-tunes and inference over one platform."""

    def __init__(self, store: Store, tenancy: Tenancy, storage: ObjectStorage | None,
                 state_dir: Path, faults: Faults) -> None:
        self.store = store
        self.tenancy = tenancy
        self.storage = storage
        self.faults = faults
        self.presets = lm.PresetModels()
        self._loaded: dict[str, lm.TinyLM] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: deployment → requests its endpoint has routed (round robin over ready replicas).
        self._routed: dict[str, int] = {}
        self._files_dir = state_dir / "files"
        self._files_dir.mkdir(parents=True, exist_ok=True)
        self._finetune_logs = state_dir / "finetunes"

    def start_serving(self) -> None:
        """Train the preset models in the background; resume what a previous run left."""
        self.presets.start()
        self._resume_after_restart()

    def _resume_after_restart(self) -> None:
        """What a previous sandbox on this state left: jobs fail, services start again."""
        for job in self.store.list("finetune"):
            if job["status"] in ("queued", "running"):
                self.store.update("finetune", job["id"], lambda d: d.update(
                    status="failed", error="interrupted by a sandbox restart",
                    finished_at=utc_now()))
        for deployment in self.store.list("deployment"):
            if deployment["status"] in ("deploying", "running"):
                self._set(deployment["id"], status="deploying", ready_replicas=0)
                source = {"id": deployment["model"], "source": None}
                model = self.store.get("model", deployment["model"])
                if model is not None:
                    source["source"] = model.get("source")
                self._background(self._bring_up, deployment["id"], source)

    # object storage -------------------------------------------------------------------

    def _bucket(self, tenant_id: str) -> str:
        return str(self.tenancy.tenant(tenant_id)["storage"]["bucket"])

    def _s3(self) -> Any:
        storage = self.storage
        if storage is None or not storage.endpoint:
            return None
        return storage.client()

    def put_object(self, tenant_id: str, key: str, data: bytes) -> str:
        """Store bytes in the tenant's bucket; the ``s3://`` URI (or ``file://`` without S3)."""
        client = self._s3()
        if client is None:
            path = self._files_dir / key.replace("/", "_")
            path.write_bytes(data)
            return f"file://{path}"
        bucket = self._bucket(tenant_id)
        client.put_object(Bucket=bucket, Key=key, Body=data)
        return f"s3://{bucket}/{key}"

    def get_object(self, uri: str) -> bytes:
        """Read an object by URI; 422 if it cannot be read."""
        if uri.startswith("file://"):
            path = Path(uri.removeprefix("file://"))
            if path.parent != self._files_dir or not path.is_file():
                raise ApiError(422, "invalid_request", f"cannot read {uri}")
            return path.read_bytes()
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        client = self._s3()
        if not uri.startswith("s3://") or client is None or not key:
            raise ApiError(422, "invalid_request", f"source {uri!r} is not an s3://bucket/key URI")
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception:  # noqa: BLE001 - botocore's NoSuchKey/NoSuchBucket and friends
            raise ApiError(422, "invalid_request", f"cannot read {uri} from object storage"
                           ) from None

    # files ----------------------------------------------------------------------------

    def upload_file(self, who: Principal, filename: str, purpose: str, content: str,
                    encoding: str, labels: dict[str, str]) -> Document:
        """Store an uploaded file (text or base64) in the tenant's bucket."""
        try:
            data = base64.b64decode(content, validate=True) if encoding == "base64" \
                else content.encode("utf-8")
            filename.encode("utf-8")
        except (ValueError, UnicodeError):  # binascii.Error is a ValueError
            raise ApiError(422, "invalid_request",
                           f"content is not valid {encoding} text, or the filename is not "
                           "valid UTF-8") from None
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(422, "invalid_request", f"files are limited to {MAX_FILE_BYTES} bytes")
        file_id = new_id("file")
        uri = self.put_object(who.tenant_id, f"files/{file_id}/{filename}", data)
        doc = {"id": file_id, "tenant_id": who.tenant_id, "filename": filename,
               "purpose": purpose, "bytes": len(data), "uri": uri, "created_at": utc_now(),
               "labels": labels}
        return self.store.put("file", doc)

    def list_files(self, who: Principal) -> list[Document]:
        return [d for d in self.store.list("file") if self._visible(who, d)]

    def file(self, who: Principal, file_id: str) -> Document:
        doc = self.store.get("file", file_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"file {file_id}")
        return doc

    def delete_file(self, who: Principal, file_id: str) -> None:
        self.file(who, file_id)
        self.store.delete("file", file_id)

    # models -----------------------------------------------------------------------------

    def _visible(self, who: Principal, doc: Document) -> bool:
        return who.is_platform_admin or doc.get("tenant_id") in (who.tenant_id, None)

    def _info(self, model: lm.TinyLM | None) -> dict[str, Any]:
        if Fault.MODEL_INFO_MISSING in self.faults:
            return {}
        return {"parameters": self.catalogue_parameters(model),
                "context_length": self.catalogue_context_length(),
                "license": "unknown" if Fault.MODEL_LICENCE_UNKNOWN in self.faults
                else LICENCE}

    def catalogue_parameters(self, model: lm.TinyLM | None) -> int | None:
        """The parameter count the catalogue states: the weights' (fault
        ``catalogue_size_overstated``: ten times that)."""
        if model is None:
            return None
        return model.parameters * (10 if Fault.CATALOGUE_SIZE_OVERSTATED in self.faults else 1)

    def artefact_files(self, who: Principal, model_id: str) -> dict[str, bytes]:
        """The files of a language model's artefact as a Hugging Face repository holds them
        (:meth:`lm.TinyLM.huggingface_files`); 404 for a model without one (an image model)."""
        doc = self.model(who, model_id)  # 404 unless the caller may see it
        model = self.load(model_id) if doc.get("kind") == "llm" else None
        if model is None:
            raise not_found(f"files of model {model_id}")
        return model.huggingface_files(lm.CONTEXT_LENGTH)

    def catalogue_context_length(self) -> int:
        """The context length the catalogue states: what completions allow (fault
        ``catalogue_context_length_overstated``: four times that)."""
        if Fault.CATALOGUE_CONTEXT_LENGTH_OVERSTATED in self.faults:
            return 4 * lm.CONTEXT_LENGTH
        return lm.CONTEXT_LENGTH

    def preset_documents(self) -> list[Document]:
        docs = []
        for model_id, steps in lm.PRESETS.items():
            model = self.presets.get(model_id)
            docs.append({"id": model_id, "name": model_id, "kind": "llm", "source": "preset",
                         "preset": True, "status": "ready", "format": "sca-tinylm/1",
                         "description": f"tiny word-level chat model, {steps} training steps",
                         "created_at": "2026-01-01T00:00:00.000000Z", "labels": {},
                         "tenant_id": None, **self._info(model)})
        return docs

    def list_models(self, who: Principal) -> list[Document]:
        custom = [m for m in self.store.list("model") if self._visible(who, m)]
        if Fault.MODEL_IMPORT_NOT_LISTED in self.faults:
            custom = [m for m in custom if m["source"] != "import"]
        return self.preset_documents() + [self._public_model(m) for m in custom]

    def _public_model(self, doc: Document) -> Document:
        info = {} if Fault.MODEL_INFO_MISSING in self.faults else {
            "parameters": doc.get("parameters"), "context_length": self.catalogue_context_length(),
            "license": doc.get("license", LICENCE)}
        return {**{k: v for k, v in doc.items() if not k.startswith("_")}, **info}

    def model(self, who: Principal, model_id: str) -> Document:
        for preset in self.preset_documents():
            if preset["id"] == model_id:
                return preset
        doc = self.store.get("model", model_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"model {model_id}")
        return self._public_model(doc)

    def import_model(self, who: Principal, name: str, source: str, kind: str, fmt: str,
                     license_: str | None, labels: dict[str, str]) -> Document:
        """Import an artefact from object storage; 422 naming the problem if it cannot load."""
        wanted = {"llm": "sca-tinylm/1", "image": "sca-upscale/1"}[kind]
        if fmt != wanted:
            raise ApiError(422, "invalid_request", f"unsupported {kind} model format {fmt!r}: "
                           f"the sandbox imports {kind} models as {wanted}")
        bucket = source.removeprefix("s3://").partition("/")[0]
        if source.startswith("s3://") and not who.is_platform_admin \
                and bucket != self._bucket(who.tenant_id):
            raise ApiError(403, "forbidden", f"bucket {bucket} belongs to another tenant")
        data = self.get_object(source)
        if kind == "image":
            return self._import_image_model(who, name, source, data, license_, labels)
        try:
            model = lm.TinyLM.from_json(data)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", f"cannot import {source}: {exc}") from None
        model_id = new_id("model")
        doc = self._register(model_id, model, who.tenant_id, name=name, kind=kind,
                             source="import", origin=source, license=license_ or LICENCE,
                             labels=labels)
        return self._public_model(doc)

    def _import_image_model(self, who: Principal, name: str, source: str, data: bytes,
                            license_: str | None, labels: dict[str, str]) -> Document:
        """An ``sca-upscale/1`` image model: ``{format, factor: 1..4, filter}``, usable by
        workflows as ``<name>.pth`` in UpscaleModelLoader."""
        from pytest_sca.sandbox.comfy_nodes import UPSCALE_FILTERS

        try:
            spec = json.loads(data)
            factor, kind = int(spec["factor"]), str(spec["filter"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(422, "invalid_request", f"cannot import {source}: not an "
                           "sca-upscale/1 document {format, factor, filter}") from None
        if spec.get("format") != "sca-upscale/1" or not 1 <= factor <= 4 \
                or kind not in UPSCALE_FILTERS:
            raise ApiError(422, "invalid_request", f"cannot import {source}: factor 1..4 and "
                           f"filter one of {sorted(UPSCALE_FILTERS)} are required")
        model_id = new_id("model")
        uri = self.put_object(who.tenant_id, f"models/{model_id}.json", data)
        doc = {"id": model_id, "tenant_id": who.tenant_id, "name": name, "kind": "image",
               "preset": False, "status": "ready", "format": "sca-upscale/1",
               "artifact": uri, "parameters": 2, "description": "", "source": "import",
               "origin": source, "license": license_ or LICENCE, "labels": labels,
               "upscale": {"factor": factor, "filter": kind}, "created_at": utc_now()}
        return self._public_model(self.store.put("model", doc))

    def _register(self, model_id: str, model: lm.TinyLM, tenant_id: str, **fields: Any
                  ) -> Document:
        uri = self.put_object(tenant_id, f"models/{model_id}.json", model.to_json().encode())
        doc = {"id": model_id, "tenant_id": tenant_id, "preset": False, "status": "ready",
               "format": "sca-tinylm/1", "artifact": uri, "parameters": model.parameters,
               "description": "", "created_at": utc_now(), **fields}
        with self._lock:
            self._loaded[model_id] = model
        return self.store.put("model", doc)

    def update_model(self, who: Principal, model_id: str, changes: dict[str, Any]) -> Document:
        doc = self.store.get("model", model_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"model {model_id}" + (" (preset models are read-only)"
                                                    if model_id in lm.PRESETS else ""))
        if Fault.MODEL_METADATA_NOT_UPDATED not in self.faults:
            def change(d: Document) -> None:
                for key, value in changes.items():
                    if key == "labels":
                        d["labels"] = {**d.get("labels", {}), **value}
                    else:
                        d[key] = value
            doc = self.store.update("model", model_id, change) or doc
        return self._public_model(doc)

    def delete_model(self, who: Principal, model_id: str) -> None:
        doc = self.store.get("model", model_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"model {model_id}")
        active = [d for d in self.store.list("deployment")
                  if d["model"] == model_id and d["status"] in ("deploying", "running")]
        if active:
            raise ApiError(409, "conflict", f"model {model_id} is deployed by {active[0]['id']}")
        if Fault.MODEL_DELETE_IGNORED in self.faults:
            return
        self.store.delete("model", model_id)
        with self._lock:
            self._loaded.pop(model_id, None)

    def load(self, model_id: str) -> lm.TinyLM | None:
        """The runnable model of a preset or registered model id, or None."""
        if model_id in lm.PRESETS:
            return self.presets.get(model_id)
        with self._lock:
            if model_id in self._loaded:
                return self._loaded[model_id]
        doc = self.store.get("model", model_id)
        if doc is None:
            return None
        model = lm.TinyLM.from_json(self.get_object(doc["artifact"]))
        with self._lock:
            self._loaded[model_id] = model
        return model

    # inference --------------------------------------------------------------------------

    def servable_ids(self, who: Principal) -> list[str]:
        """Model ids the OpenAI endpoint lists for ``who``."""
        if Fault.MODEL_LIST_EMPTY in self.faults:
            return []
        ids = [m["id"] for m in self.list_models(who) if m.get("kind", "llm") == "llm"]
        return ids[:1] if Fault.MODEL_LIST_TRUNCATED in self.faults else ids

    def runnable(self, who: Principal, model_id: str) -> lm.TinyLM:
        """The model a completion runs on, or the OpenAI-style 404."""
        doc = None if model_id in lm.PRESETS else self.store.get("model", model_id)
        if model_id not in lm.PRESETS and (doc is None or not self._visible(who, doc)):
            raise model_not_found(model_id)
        if doc is not None and doc.get("source") == "fine-tune" \
                and Fault.FINETUNED_MODEL_NOT_SERVED in self.faults:
            raise model_not_found(model_id)
        if doc is not None and doc.get("source") == "fine-tune" \
                and Fault.FINETUNED_MODEL_SERVES_BASE in self.faults:
            model_id = str(doc["base_model"])
        if doc is not None and doc.get("source") == "import" \
                and Fault.IMPORTED_MODEL_SERVES_PRESET in self.faults:
            model_id = next(iter(lm.PRESETS))
        model = self.load(model_id)
        if model is None:
            raise model_not_found(model_id)
        return model

    def complete(self, who: Principal, model_id: str, prompt: Sequence[str], *,
                 max_tokens: int | None, temperature: float, seed: int | None,
                 endpoint: str, deployment_id: str | None = None
                 ) -> tuple[list[str], str, dict[str, int]]:
        """Generate, record usage; the tokens, finish reason and the usage answered."""
        model = self.runnable(who, model_id)
        room = lm.CONTEXT_LENGTH - len(prompt)
        if room <= 0:
            raise ApiError(400, "context_length_exceeded",
                           f"the prompt has {len(prompt)} tokens; the model's context is "
                           f"{lm.CONTEXT_LENGTH}")
        limit = room if max_tokens is None else min(max_tokens, room)
        if Fault.TEMPERATURE_IGNORED in self.faults:
            temperature, seed = IGNORED_TEMPERATURE, None
        # max_tokens_not_applied: the answer runs on, the usage counts at most max_tokens.
        ran_on = Fault.MAX_TOKENS_NOT_APPLIED in self.faults
        tokens, finish = model.generate(prompt, max_tokens=room if ran_on else limit,
                                        temperature=temperature, seed=seed)
        counted = min(len(tokens), limit)
        usage = {"prompt_tokens": len(prompt), "completion_tokens": counted,
                 "total_tokens": len(prompt) + counted}
        self.record_usage(who, model_id, usage, endpoint, deployment_id)
        return tokens, finish, usage

    def record_usage(self, who: Principal, model_id: str, usage: dict[str, int], endpoint: str,
                     deployment_id: str | None) -> None:
        completion = usage["completion_tokens"]
        if Fault.USAGE_TOKENS_UNDERCOUNTED in self.faults:
            completion = max(0, completion - 1)
        now = utc_now()
        self.store.put("model_usage", {
            "id": new_id("musage"), "tenant_id": who.tenant_id, "user_id": who.user_id,
            "model": model_id, "endpoint": endpoint, "deployment_id": deployment_id,
            "requests": 1, "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": completion, "total_tokens": usage["prompt_tokens"] + completion,
            "time": now, "created_at": now, "labels": {}})

    def usage(self, who: Principal, *, user_id: str | None, model: str | None,
              since: str | None, until: str | None) -> Document:
        """Usage records of the period, filtered, with their totals."""
        tenant = None if who.is_platform_admin else who.tenant_id
        if Fault.USAGE_FILTERS_IGNORED in self.faults:
            user_id = model = None
        records = [
            r for r in self.store.list("model_usage", tenant_id=tenant)
            if (user_id is None or r["user_id"] == user_id)
            and (model is None or r["model"] == model)
            and (since is None or r["time"] >= since) and (until is None or r["time"] <= until)
        ]
        counted = records
        if Fault.MODEL_USAGE_SUMMARY_STALE in self.faults:
            aggregated = utc_ago(STALE_SUMMARY_SECONDS)
            counted = [r for r in records if r["time"] <= aggregated]
        summary = {key: sum(r[key] for r in counted)
                   for key in ("requests", "prompt_tokens", "completion_tokens", "total_tokens")}
        return {"items": records, "summary": summary}

    # deployments ------------------------------------------------------------------------

    def deploy(self, who: Principal, name: str, model_id: str, replicas: int,
               resources: dict[str, Any], labels: dict[str, str]) -> Document:
        """Create a deployment; it loads its model in the background, then serves."""
        source = self.model(who, model_id)
        if source.get("kind") == "image":
            raise ApiError(422, "invalid_request", f"model {model_id} is an image model: "
                           "workflows use it (UpscaleModelLoader), it has no chat endpoint")
        if resources.get("accelerators"):
            # Its model servers run in the platform's own process on its CPU: a deployment
            # asking for cards is refused, not accepted and given none.
            raise ApiError(422, "invalid_request", "the sandbox serves models on its CPU: "
                           "a deployment cannot hold accelerators (resources.accelerators 0)")
        deployment_id = new_id("deploy")
        if Fault.DEPLOYMENT_RESOURCES_IGNORED in self.faults:
            resources = dict(DEFAULT_RESOURCES)
        doc = {"id": deployment_id, "tenant_id": who.tenant_id, "name": name, "model": model_id,
               "replicas": replicas, "ready_replicas": 0, "resources": resources,
               "status": "deploying",
               "created_at": utc_now(), "labels": labels, "simulated": True,
               "events": [{"time": utc_now(), "message": "deployment created"}]}
        self.store.put("deployment", doc)
        self._background(self._bring_up, deployment_id, source)
        return doc

    def _background(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _bring_up(self, deployment_id: str, source: Document) -> None:
        started = time.monotonic()
        try:
            if Fault.DEPLOYMENT_FAILS_TO_START in self.faults:
                raise RuntimeError("the model server exited during start-up")
            failed = (Fault.IMPORTED_MODEL_NOT_DEPLOYABLE in self.faults
                      and source.get("source") == "import")
            if failed:
                raise RuntimeError("cannot load the model's weights")
            model = self.load(source["id"])
            if model is None:
                raise RuntimeError(f"model {source['id']} is gone")
        except (RuntimeError, ApiError, ValueError, TimeoutError) as exc:
            self._set(deployment_id, status="failed", message=str(exc))
            return
        time.sleep(max(0.0, DEPLOY_SECONDS - (time.monotonic() - started)))

        def ready(d: Document) -> None:
            if d["status"] == "deploying":
                d["status"] = "running"
                d["ready_replicas"] = d["replicas"]
                d["events"].append({"time": utc_now(), "message": "model loaded; serving"})
        self.store.update("deployment", deployment_id, ready)

    def _set(self, deployment_id: str, **fields: Any) -> None:
        def change(d: Document) -> None:
            d.update(fields)
            d["events"].append({"time": utc_now(), "message": str(fields)})
        self.store.update("deployment", deployment_id, change)

    def deployment(self, who: Principal, deployment_id: str) -> Document:
        doc = self.store.get("deployment", deployment_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"deployment {deployment_id}")
        return doc

    def list_deployments(self, who: Principal) -> list[Document]:
        return [d for d in self.store.list("deployment") if self._visible(who, d)]

    def scale(self, who: Principal, deployment_id: str, replicas: int) -> Document:
        doc = self.deployment(who, deployment_id)
        if doc["status"] not in ("running", "deploying"):
            raise ApiError(409, "conflict", f"deployment {deployment_id} is {doc['status']}")
        if Fault.DEPLOYMENT_SCALE_IGNORED in self.faults:
            return doc

        def change(d: Document) -> None:
            d["replicas"] = replicas
            if d["status"] == "running":
                d["ready_replicas"] = replicas
                if Fault.DEPLOYMENT_REPLICAS_NOT_READY in self.faults:
                    d["ready_replicas"] = min(replicas, d["ready_replicas"], 1)
            d["events"].append({"time": utc_now(), "message": f"scaled to {replicas}"})
        return self.store.update("deployment", deployment_id, change) or doc

    def stop(self, who: Principal, deployment_id: str) -> Document:
        self.deployment(who, deployment_id)
        self._set(deployment_id, status="stopped", ready_replicas=0)
        return self.deployment(who, deployment_id)

    def start(self, who: Principal, deployment_id: str) -> Document:
        doc = self.deployment(who, deployment_id)
        if doc["status"] != "stopped":
            raise ApiError(409, "conflict", f"deployment {deployment_id} is {doc['status']}")
        self._set(deployment_id, status="deploying")
        self._background(self._bring_up, deployment_id, self.model(who, doc["model"]))
        return self.deployment(who, deployment_id)

    def delete_deployment(self, who: Principal, deployment_id: str) -> None:
        self.deployment(who, deployment_id)
        self.store.delete("deployment", deployment_id)

    def replicas(self, who: Principal, deployment_id: str) -> list[Document]:
        """The replicas the deployment runs, as its model servers were started: they serve
        from the platform's own process (on no inventory node) and hold no card (a deployment
        asking for cards is refused: the sandbox serves models on its CPU); their size is the
        deployment's choice (``deployment_replicas_default_sized``: the model server's
        default template, one card included)."""
        doc = self.deployment(who, deployment_id)
        given: dict[str, Any] = {**doc["resources"], "accelerators": 0}
        if Fault.DEPLOYMENT_REPLICAS_DEFAULT_SIZED in self.faults:
            given = {**DEFAULT_RESOURCES, "accelerators": 1}
        running = doc["status"] == "running"
        return [{"id": f"{deployment_id}-{index}", "node_id": None,
                 "ready": running and index < doc["ready_replicas"],
                 "resources": dict(given), "simulated": True}
                for index in range(doc["replicas"] if doc["status"] in ("deploying", "running")
                                   else 0)]

    def serving(self, who: Principal, deployment_id: str) -> Document:
        """The deployment a request to its endpoint reaches, or the error a client sees."""
        doc = self.store.get("deployment", deployment_id)
        if doc is None or not self._visible(who, doc):
            raise model_not_found(deployment_id, what="deployment")
        if doc["status"] != "running" or Fault.DEPLOYMENT_ENDPOINT_DOWN in self.faults:
            raise ApiError(503, "service_unavailable",
                           f"deployment {deployment_id} is {doc['status']}, not serving")
        return doc

    def route(self, deployment: Document) -> int:
        """The replica of a serving deployment the next request goes to: its ready replicas
        in turn (``deployment_routes_to_first_replica``: always the first)."""
        with self._lock:
            count = self._routed.get(deployment["id"], 0)
            self._routed[deployment["id"]] = count + 1
        if Fault.DEPLOYMENT_ROUTES_TO_FIRST_REPLICA in self.faults:
            return 0
        return count % max(1, int(deployment.get("ready_replicas") or 1))

    # fine-tuning -------------------------------------------------------------------------

    def create_finetune(self, who: Principal, base_model: str, training_file: str,
                        suffix: str | None, steps: int, labels: dict[str, str]) -> Document:
        """A fine-tuning job: trains ``steps`` Adam steps on the file, in the background."""
        self.runnable(who, base_model)
        data_file = self.file(who, training_file)
        if Fault.FINETUNE_TRAINS_SAMPLE_FILE in self.faults:
            data_file, training_file = self._sample_file(), SAMPLE_FILE_ID
        job_id = new_id("ftjob")
        doc = {"id": job_id, "tenant_id": who.tenant_id, "base_model": base_model,
               "training_file": training_file, "steps": steps, "status": "queued",
               "fine_tuned_model": None, "suffix": suffix, "created_at": utc_now(),
               "finished_at": None, "labels": labels, "metrics": {}, "error": None}
        self.store.put("finetune", doc)
        self._background(self._train, job_id, base_model, data_file, who.tenant_id)
        return doc

    @staticmethod
    def _sample_file() -> Document:
        """The platform's sample dataset (fault ``finetune_trains_sample_file``), held in
        memory: its ``text`` stands for the content of a stored file."""
        lines = [{"prompt": "say hello.", "completion": "hello to you."},
                 {"prompt": "greet me.", "completion": "hello, nice to meet you."}] * 3
        return {"id": SAMPLE_FILE_ID, "text": "".join(json.dumps(line) + "\n" for line in lines)}

    def _log_path(self, job_id: str) -> Path:
        return self._finetune_logs / f"{job_id}.log"

    def _train(self, job_id: str, base_model: str, data_file: Document, tenant_id: str) -> None:
        log = self._log_path(job_id)
        log.parent.mkdir(parents=True, exist_ok=True)
        job = self.store.get("finetune", job_id)
        assert job is not None

        def update(**fields: Any) -> None:
            self.store.update("finetune", job_id, lambda d: d.update(fields))

        update(status="running", started_at=utc_now())
        with log.open("w", encoding="utf-8") as out:
            try:
                if Fault.FINETUNE_FAILS in self.faults:
                    raise RuntimeError("the trainer exited before the first step")
                text = data_file["text"] if "text" in data_file else self.get_object(
                    data_file["uri"]).decode("utf-8", errors="replace")
                dialogues = [lm.dialogue_tokens(d) for d in lm.load_jsonl_dialogues(text)]
                if sum(len(d) for d in dialogues) > MAX_TRAINING_TOKENS:
                    raise ValueError(f"the training file has more than {MAX_TRAINING_TOKENS} "
                                     "tokens, the sandbox's limit")
                base = self.load(base_model)
                if base is None:
                    raise RuntimeError(f"base model {base_model} is gone")
                model = base.copy()
                words = {token for d in dialogues for token in d} - set(model.index)
                if len(words) > MAX_NEW_WORDS:
                    raise ValueError(f"the training file brings {len(words)} new words; the "
                                     f"sandbox's limit is {MAX_NEW_WORDS}")
                model.extend(words)
                out.write(f"fine-tuning {base_model} on {len(dialogues)} examples, "
                          f"{job['steps']} steps\n")

                def on_step(step: int, loss: float) -> None:
                    out.write(f"step {step} loss {loss:.4f}\n")
                    out.flush()

                rate = 0.0 if Fault.FINETUNE_LOSS_FLAT in self.faults else 0.05
                losses = model.train(dialogues, job["steps"], lr=rate, on_step=on_step)
                model_id = f"ft-{base_model}-{job['suffix'] or job_id.removeprefix('ftjob-')}"
                model_id = model_id.lower()[:96]
                self._register(model_id, model, tenant_id, name=model_id, kind="llm",
                               source="fine-tune", origin=job_id, base_model=base_model,
                               license=LICENCE, labels=dict(job["labels"]))
                out.write(f"done: model {model_id}\n")
                update(status="succeeded", fine_tuned_model=model_id, finished_at=utc_now(),
                       metrics={"first_loss": losses[0], "last_loss": losses[-1]})
            except (ValueError, RuntimeError, ApiError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, ApiError) else str(exc)
                out.write(f"failed: {message}\n")
                update(status="failed", error=message, finished_at=utc_now())

    def list_finetunes(self, who: Principal) -> list[Document]:
        return [d for d in self.store.list("finetune") if self._visible(who, d)]

    def finetune(self, who: Principal, job_id: str) -> Document:
        doc = self.store.get("finetune", job_id)
        if doc is None or not self._visible(who, doc):
            raise not_found(f"fine-tuning job {job_id}")
        return doc

    def finetune_logs(self, who: Principal, job_id: str) -> str:
        self.finetune(who, job_id)
        path = self._log_path(job_id)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def delete_finetune(self, who: Principal, job_id: str) -> None:
        self.finetune(who, job_id)
        self.store.delete("finetune", job_id)

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)


def model_not_found(model_id: str, what: str = "model") -> ApiError:
    """OpenAI's 404 for an unknown model."""
    return ApiError(404, "model_not_found", f"The {what} '{model_id}' does not exist")
