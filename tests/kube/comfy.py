"""The platform's ComfyUI in the emulated cluster (a TEST DOUBLE of the ComfyUI server: the
emulated kubelet runs it for the ComfyUI image of ``fixtures/comfyui.yaml``).

It is the sandbox's ComfyUI-compatible endpoint, not a copy of it: the sandbox's prompt
queue (:class:`pytest_sca.sandbox.workflows.WorkflowEngine`, one worker that really executes
image workflows) and its ComfyUI routes (``routes_workflows._comfy_routes``: ``/prompt``,
``/queue``, ``/history``, ``/view``, ``/upload/image``, ``/object_info``), served at the root
of ComfyUI's port 8188 and, as a ComfyUI in a cluster usually is, without authentication:
every caller is the one anonymous principal who may do anything (the sandbox's platform
administrator). Its state (queue numbers, history, input and output images) lives in the
pod's working directory.

Faults (the cluster's, ``SCA_EMU_FAULTS``), each the sandbox fault of the same behaviour:
``comfyui_outputs_truncated`` (``/view`` answers the first 24 bytes of an output image).
"""

import os
import sys
from pathlib import Path

# The pod's PYTHONPATH is the emulated pod network alone: the engine comes from this tree.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from pytest_sca.sandbox.auth import Principal  # noqa: E402
from pytest_sca.sandbox.deps import caller  # noqa: E402
from pytest_sca.sandbox.faults import check_faults  # noqa: E402
from pytest_sca.sandbox.routes_workflows import COMFY, _comfy_routes  # noqa: E402
from pytest_sca.sandbox.store import Store  # noqa: E402
from pytest_sca.sandbox.workflows import WorkflowEngine  # noqa: E402

PORT = 8188
#: The cluster's faults this server plays → the sandbox fault of the same behaviour.
FAULTS = {"comfyui_outputs_truncated": "workflow_output_corrupt"}
#: Whoever reaches a ComfyUI without authentication may do anything.
ANONYMOUS = Principal(user_id="anonymous", tenant_id="comfyui", role="platform_admin")

state = Path.cwd()
faults = frozenset(check_faults(FAULTS[name] for name in
                                os.environ.get("SCA_EMU_FAULTS", "").split(",")
                                if name in FAULTS))
engine = WorkflowEngine(Store(state / "comfyui.sqlite3"), state / "comfyui", faults)
engine.start()
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
app.include_router(_comfy_routes(engine))
app.dependency_overrides[caller] = lambda: ANONYMOUS


async def at_root(scope, receive, send):  # type: ignore[no-untyped-def]
    """ComfyUI serves its routes at the root; the sandbox mounts them under ``/comfyui``."""
    if scope["type"] == "http":
        scope = {**scope, "path": COMFY + scope["path"],
                 "raw_path": COMFY.encode() + scope.get("raw_path", b"")}
    await app(scope, receive, send)


uvicorn.run(at_root, host="0.0.0.0", port=PORT, log_level="warning", access_log=False,
            lifespan="off")
