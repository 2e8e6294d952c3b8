"""Container healthcheck: GET one path of the mcc service running in this container; exit 0 if it answers 200.

Used by the Dockerfile's HEALTHCHECK (`/healthz`, alive) and compose.yaml's (`/readyz`: ready to accept work, i.e. its
database reachable; NATS or Redis down answers 200 "degraded", see README). Standard library only, because it runs every few seconds and must start fast; slim
images have no curl. The port is found the way the service finds it: `--port` on its command line, else
MCC_<SERVICE>_PORT, else the service's default.

    python /opt/mcc/healthcheck.py [/readyz]
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Kept equal to services.cli.DEFAULT_PORTS by tests/unit/deploy (this file cannot import the project).
DEFAULT_PORTS = {"intake": 8001, "hotline": 8002, "grid": 8003, "dispatch": 8004}


def service_argv(cmdline: bytes) -> list[str]:
    """The arguments after `serve` in a /proc/<pid>/cmdline, e.g. ['grid', '--port', '9000']."""
    argv = [a.decode() for a in cmdline.split(b"\0") if a]
    return argv[argv.index("serve") + 1:] if "serve" in argv else []


def service_port(argv: list[str], env: dict[str, str]) -> int:
    """The port `mcc serve <argv>` listens on under this environment."""
    if not argv or argv[0] not in DEFAULT_PORTS:
        raise ValueError(f"not an mcc service command line: {argv!r}")
    service = argv[0]
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return int(env.get(f"MCC_{service.upper()}_PORT", DEFAULT_PORTS[service]))


def main(args: list[str], *, cmdline: Path = Path("/proc/1/cmdline"), env: dict[str, str] | None = None) -> int:
    """Exit status for the container runtime: 0 if the service answers 200 on the path (default /healthz)."""
    path = args[0] if args else "/healthz"
    try:
        port = service_port(service_argv(cmdline.read_bytes()), dict(os.environ) if env is None else env)
        # No proxy: an http_proxy set for the container's outbound traffic must not capture loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
