"""A private stack for one simulation (policy replay, tests): fresh databases, the run's time scale and policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.cli import SERVICES, ServiceProcess, service_env, start_service, stop_all, wait_ready
from services.simulator.client import Endpoints
from shared.devservers import ServerProcess, free_port, nats_server, redis_server


def issue_intake_key(env: dict[str, str], name: str = "模拟 Open311 与遥感") -> str:
    """An intake API key, issued the way an administrator does it (`mcc apikey issue --service intake`)."""
    done = subprocess.run([sys.executable, "-m", "services.cli", "apikey", "issue", "--service", "intake",
                           "--name", name], env=env, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r"^key:\s+(\S+)", done.stdout, re.M)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"mcc apikey issue failed: {done.stdout}{done.stderr}")
    return found.group(1)


@dataclass
class OwnStack:
    var: Path
    env: dict[str, str]
    nats: ServerProcess
    redis: ServerProcess
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    def start(cls, var: Path, *, scale: float, sla_file: str | None = None, escalation_file: str | None = None,
              extra_env: dict[str, str] | None = None, ready_timeout: float = 120) -> OwnStack:
        (var / "logs").mkdir(parents=True, exist_ok=True)
        nats = nats_server(var / "nats").start()
        redis = redis_server(var / "redis").start()
        ports = {name: free_port() for name in SERVICES}
        env = service_env(var, nats_url=f"nats://127.0.0.1:{nats.port}", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                          ports=ports, json_logs=True)
        env.update({"MCC_DISPATCH_TIME_SCALE": str(scale), "MCC_OUTBOX_POLL_S": "0.2", "MCC_DEMO": "true"})
        if sla_file:
            env["MCC_DISPATCH_SLA_FILE"] = str(sla_file)
        if escalation_file:
            env["MCC_DISPATCH_ESCALATION_FILE"] = str(escalation_file)
        env.update(extra_env or {})
        stack = cls(var, env, nats, redis)
        try:
            for name in SERVICES:
                stack.services[name] = start_service(name, ports[name], env, var / "logs")
            ready = wait_ready(list(stack.services.values()), timeout=ready_timeout)
            if not all(ready.values()):
                raise RuntimeError(f"not ready: {ready}; logs in {var / 'logs'}")
        except BaseException:
            stack.stop()
            raise
        return stack

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(**{name: self.services[name].url for name in ("hotline", "grid", "intake", "dispatch")})

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats.port}"

    def stop(self) -> None:
        """Drain and stop the services, then the servers, as `mcc up` does on Ctrl-C (services.cli.stop_all)."""
        stop_all(list(self.services.values()), [self.nats, self.redis])


def token_secret(env: dict[str, str] | None = None) -> str:
    """The secret the stack signs tokens with (MCC_TOKEN_SECRET, else the demo default)."""
    from shared.settings import ServiceSettings

    return (env or os.environ).get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
