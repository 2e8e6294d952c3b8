"""`mcc up` counts a service ready only when the process it started answers; one that could not bind its port is
reported as failed, even when another program on that port answers /readyz with 200."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from services.cli import ServiceProcess, service_states

# A child that serves /readyz with its own pid (as every service does) on the port it is given; like uvicorn, it
# exits with 1 when the port is taken.
CHILD = """
import json, os, sys, time
time.sleep(1)  # a service imports for a while before it binds
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "pid": os.getpid()}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
try:
    server = HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
except OSError as exc:
    print("could not bind:", exc, file=sys.stderr); sys.exit(1)
server.serve_forever()
"""


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "ok", "service": "grid", "pid": 1}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _child(port: int) -> ServiceProcess:
    return ServiceProcess("grid", port, subprocess.Popen([sys.executable, "-c", CHILD, str(port)],
                                                         stderr=subprocess.DEVNULL))


def test_a_service_that_cannot_bind_its_port_is_failed_even_when_another_server_answers_there():
    impostor = HTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    child = _child(impostor.server_address[1])
    try:
        states = service_states([child], timeout=30)
        assert states == {"grid": "failed: exited with 1"}
    finally:
        impostor.shutdown()
        child.proc.kill()
        child.proc.wait()


def test_a_service_whose_own_process_answers_is_ready():
    from shared.devservers import free_port

    child = _child(free_port())
    try:
        assert service_states([child], timeout=30) == {"grid": "ready"}
    finally:
        child.proc.kill()
        child.proc.wait()
