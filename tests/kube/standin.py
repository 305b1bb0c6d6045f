"""An OpenAI-compatible stand-in for a KServe predictor in the emulated cluster (a TEST
DOUBLE: no model runs; it answers the chat-completions shape of OpenAI's API, echoing the
last user message). Listens on the pod's port 8080."""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = os.environ.get("SCA_MODEL", "standin")


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, document):
        body = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "kserve"}]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        size = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(size) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        words = " ".join(str(m.get("content", "")) for m in request.get("messages") or []
                         if m.get("role") == "user").split()
        text = " ".join(["echo:", *words][: int(request.get("max_tokens") or 16)])
        self._send(200, {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion",
                         "created": int(time.time()), "model": request.get("model", MODEL),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": len(words), "completion_tokens":
                                   len(text.split()), "total_tokens":
                                   len(words) + len(text.split())}})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
