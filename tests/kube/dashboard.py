"""A stand-in for the Kubernetes Dashboard's web server in the emulated cluster (a TEST
DOUBLE: it serves one HTML page on the port the Dashboard's Service targets)."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = (b"<!doctype html><html><head><title>Kubernetes Dashboard</title></head>"
        b"<body><kd-root></kd-root></body></html>")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8443), Handler).serve_forever()
