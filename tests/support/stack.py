"""The whole command centre as separate processes, started the way `mcc up` starts it."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.cli import SERVICES, ServiceProcess, service_env, start_service, stop_all, wait_ready
from shared.devservers import ServerProcess, free_port, nats_server, redis_server


@dataclass
class Stack:
    var: Path
    nats: ServerProcess
    redis: ServerProcess
    env: dict[str, str]
    ports: dict[str, int]
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    def start(cls, var: Path, *, database_urls: dict[str, str] | None = None) -> Stack:
        (var / "logs").mkdir(parents=True, exist_ok=True)
        nats = nats_server(var / "nats").start()
        redis = redis_server(var / "redis").start()
        ports = {name: free_port() for name in SERVICES}
        env = service_env(var, nats_url=f"nats://127.0.0.1:{nats.port}", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                          ports=ports, json_logs=True)
        for name, url in (database_urls or {}).items():
            env[f"MCC_{name.upper()}_DATABASE_URL"] = url
        env["MCC_OUTBOX_POLL_S"] = "0.2"
        stack = cls(var, nats, redis, env, ports)
        for name in SERVICES:
            stack.start_service(name)
        return stack

    def start_service(self, name: str) -> None:
        self.services[name] = start_service(name, self.ports[name], self.env, self.var / "logs")

    def restart_service(self, name: str, timeout: float = 120) -> None:
        """Start a stopped service again and wait until it is ready. While it was down its port may have been
        handed out as some client's ephemeral source port: a start that fails to bind is tried again."""
        deadline = time.monotonic() + timeout
        while True:
            self.start_service(name)
            try:
                ready = wait_ready([self.services[name]], timeout=max(deadline - time.monotonic(), 1))
            except RuntimeError:  # it exited (address in use): the port is free again once that client is done
                if time.monotonic() > deadline:
                    raise
                continue
            if not all(ready.values()):
                raise AssertionError(f"{name} not ready after a restart; logs in {self.var / 'logs'}")
            return

    def wait_ready(self, timeout: float = 60) -> None:
        ready = wait_ready(list(self.services.values()), timeout=timeout)
        if not all(ready.values()):
            raise AssertionError(f"not ready: {ready}; logs in {self.var / 'logs'}")

    def url(self, name: str) -> str:
        return self.services[name].url

    def kill_service(self, name: str) -> None:
        proc = self.services[name].proc
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def log(self, name: str) -> str:
        return (self.var / "logs" / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        stop_all(list(self.services.values()), [self.nats, self.redis])
