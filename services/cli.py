"""`mcc`: the command line. `mcc up` runs the whole command centre locally; the rest are tools for it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services import cli_users
from shared.devservers import ServerProcess, free_port, nats_server, redis_server

SERVICES = ("grid", "intake", "dispatch", "hotline")
DEFAULT_PORTS = {"intake": 8001, "hotline": 8002, "grid": 8003, "dispatch": 8004}
PORTS_FILE = "ports.env"


@dataclass
class ServiceProcess:
    name: str
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _port(preferred: int) -> int:
    """The preferred port if it is free, another free one if not (a dev machine may run its own servers)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def service_env(var: Path, *, nats_url: str, redis_url: str, ports: dict[str, int], json_logs: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "MCC_NATS_URL": nats_url,
        "MCC_REDIS_URL": redis_url,
        "MCC_LOG_JSON": "true" if json_logs else "false",
        "MCC_INTAKE_GRID_URL": f"http://127.0.0.1:{ports['grid']}",
        "MCC_DISPATCH_GRID_URL": f"http://127.0.0.1:{ports['grid']}",  # the city view's map
        # The organisation tree: Open311's agency names, address places, the console's unit names.
        "MCC_INTAKE_DISPATCH_URL": f"http://127.0.0.1:{ports['dispatch']}",
        "MCC_HOTLINE_DISPATCH_URL": f"http://127.0.0.1:{ports['dispatch']}",
    })
    env.setdefault("MCC_DEMO", "true")  # mcc up is a demo on this machine: the default token secret is allowed
    for name in SERVICES:
        env.setdefault(f"MCC_{name.upper()}_DATABASE_URL", f"sqlite:///{var / (name + '.db')}")
        env[f"MCC_{name.upper()}_PORT"] = str(ports[name])
    return env


def start_service(name: str, port: int, env: dict[str, str], log_dir: Path, *, label: str | None = None
                  ) -> ServiceProcess:
    """One service as a uvicorn process; `label` names a replica (`dispatch-2`: its log and its name)."""
    log = open(log_dir / f"{label or name}.log", "ab")  # noqa: SIM115 - lives as long as the process
    argv = [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.bootstrap:app",
            "--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "15", "--no-access-log"]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return ServiceProcess(label or name, port, proc)


def service_states(services: list[ServiceProcess], timeout: float = 60.0) -> dict[str, str]:
    """Each service's state after waiting: "ready", "failed: …" (its process exited, e.g. it could not bind its
    port) or "not ready". Ready means its own process answered /readyz with 200: the pid the answer reports is
    the child's, so another program on the port (an old mcc, any server) never passes for it."""
    deadline = time.monotonic() + timeout
    states = {s.name: "not ready" for s in services}
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and any(v == "not ready" for v in states.values()):
            for s in services:
                if states[s.name] != "not ready":
                    continue
                if s.proc.poll() is not None:
                    states[s.name] = f"failed: exited with {s.proc.returncode}"
                    continue
                try:
                    answer = client.get(f"{s.url}/readyz")
                    if answer.status_code == 200 and answer.json().get("pid") == s.proc.pid:
                        states[s.name] = "ready"
                except (httpx.HTTPError, ValueError, AttributeError):
                    pass
            time.sleep(0.3)
    return states


def wait_ready(services: list[ServiceProcess], timeout: float = 60.0) -> dict[str, bool]:
    """Whether each service is ready (see service_states); raises if one of them exited."""
    states = service_states(services, timeout)
    for name, state in states.items():
        if state.startswith("failed"):
            raise RuntimeError(f"{name} {state.removeprefix('failed: ')}; see its log")
    return {name: state == "ready" for name, state in states.items()}


def cmd_up(args: argparse.Namespace) -> int:
    """Start nats-server, redis-server and the four services; stop them all on Ctrl-C."""
    if args.cluster:
        from services.cluster_cli import cmd_up_cluster

        return cmd_up_cluster(args)
    var = Path(args.var).resolve()
    (var / "logs").mkdir(parents=True, exist_ok=True)
    nats = nats_server(var / "nats", _port(args.nats_port))
    redis = redis_server(var / "redis", _port(args.redis_port), persist=True)
    nats.start()
    redis.start()
    nats_url, redis_url = f"nats://127.0.0.1:{nats.port}", f"redis://127.0.0.1:{redis.port}/0"
    ports = {name: _port(DEFAULT_PORTS[name]) for name in SERVICES}
    env = service_env(var, nats_url=nats_url, redis_url=redis_url, ports=ports, json_logs=True)
    services = [start_service(name, ports[name], env, var / "logs") for name in SERVICES]
    stopping = stop_on_signals()
    try:
        print(f"mcc: starting (logs in {var / 'logs'}) ...", flush=True)
        states = service_states(services, timeout=args.ready_timeout)
        ready = {name: state == "ready" for name, state in states.items()}
        write_ports(var / PORTS_FILE, services, nats_url=nats_url, redis_url=redis_url)
        _print_summary(services, nats, redis, states, env, var)
        if args.exit_when_ready:
            return 0 if all(ready.values()) else 1
        run_until_stopped(services, var / "logs", stopping)
        return 0
    finally:
        print("mcc: stopping ...", flush=True)
        (var / PORTS_FILE).unlink(missing_ok=True)  # its URLs are gone with the stack
        stop_all(services, [nats, redis])
        print("mcc: stopped", flush=True)


def write_ports(path: Path, services: list[ServiceProcess], *, nats_url: str, redis_url: str) -> None:
    """The stack's URLs as shell assignments (`. var/ports.env`), so scripts and the README's examples use the
    ports this `mcc up` took rather than assume the defaults (a default port may be taken)."""
    lines = ["# written by `mcc up` while it runs: `. var/ports.env` in a shell, then $MCC_HOTLINE_URL etc."]
    lines += [f"MCC_{s.name.upper()}_URL={s.url}" for s in services]
    lines += [f"MCC_NATS_URL={nats_url}", f"MCC_REDIS_URL={redis_url}"]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)  # whole or not at all: a reader polling for it never sees half


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM (from now on), for a foreground command that stops cleanly."""
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    return stopping


def run_until_stopped(services: list[ServiceProcess], log_dir: Path, stopping: threading.Event) -> None:
    """Wait until `stopping` is set or a service exits on its own (said, with where its log is)."""
    while not stopping.is_set():
        for s in services:
            if s.proc.poll() is not None:
                print(f"mcc: {s.name} exited with {s.proc.returncode}; see {log_dir / (s.name + '.log')}", flush=True)
                stopping.set()
        stopping.wait(0.5)


def stop_all(services: list[ServiceProcess], servers: list[ServerProcess]) -> None:
    """SIGTERM every service (they drain), wait for each (then kill), then stop the servers."""
    for s in services:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
    for s in services:
        try:
            s.proc.wait(20)
        except subprocess.TimeoutExpired:
            s.proc.kill()
    for server in servers:
        server.stop()


def _print_summary(services: list[ServiceProcess], nats: ServerProcess, redis: ServerProcess,
                   states: dict[str, str], env: dict[str, str], var: Path) -> None:
    ready = {name: state == "ready" for name, state in states.items()}
    print("\nmcc is up:\n" if all(ready.values()) else "\nmcc started, but not every service is ready:\n")
    print(f"  {'service':<10} {'ready':<6} url")
    for s in services:
        note = "" if ready[s.name] else f"  ← {states[s.name]}; see {var / 'logs' / (s.name + '.log')}"
        print(f"  {s.name:<10} {'yes' if ready[s.name] else 'NO':<6} {s.url}  (API docs {s.url}/docs){note}")
    print(f"  {'nats':<10} {'yes':<6} nats://127.0.0.1:{nats.port}  (JetStream, data in {nats.data_dir})")
    print(f"  {'redis':<10} {'yes':<6} redis://127.0.0.1:{redis.port}")
    print(f"\nThese URLs are in {var / PORTS_FILE} too: `. {var / PORTS_FILE}` in a shell, then use"
          " $MCC_HOTLINE_URL, $MCC_DISPATCH_URL, $MCC_INTAKE_URL, $MCC_GRID_URL.")
    if ready.get("dispatch"):
        from services.cli_users import ensure_demo_accounts

        dispatch = next(s for s in services if s.name == "dispatch")
        print(f"\nSign in at {dispatch.url}/signin (each role lands on its console). Demo accounts:")
        for login, role, unit, password in ensure_demo_accounts(var, env["MCC_DISPATCH_DATABASE_URL"]):
            print(f"  {login:<14} password {password:<20} {role} (unit {unit})")
    print("\nScripts mint tokens with `mcc token --role ROLE --unit CODE` (recorded as scripts in the audit);"
          " the first admin of a real install: `mcc user add --login L --unit U --role admin`.")
    print("\nIntegration keys (grid apps, Open311 apps, detectors): "
          "`mcc apikey issue --service grid|intake --name NAME [--scope UNIT]`")
    print("\nPress Ctrl-C to stop everything.\n", flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring one service's (or every service's) database schema up to date."""
    from shared.migrations import upgrade

    names = SERVICES if args.service == "all" else (args.service,)
    for name in names:
        settings = _settings(name)
        asyncio.run(upgrade(name, settings.database_url))
        print(f"{name}: migrated")
    return 0


def cmd_makemigration(args: argparse.Namespace) -> int:
    from shared.migrations import make_revision

    asyncio.run(make_revision(args.service, args.message))
    return 0


def _login_name() -> str:
    """Who is at this terminal: the default subject of a minted token, so audit rows name a person."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return ""


def cmd_token(args: argparse.Namespace) -> int:
    """Mint a bearer token signed with MCC_TOKEN_SECRET."""
    from datetime import timedelta

    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    subject = args.subject or _login_name()
    if not subject.strip():
        print("mcc token: --subject must name the person the token acts for", file=sys.stderr)
        return 2
    token = mint_token(ServiceSettings().token_secret, subject=subject, role=args.role, unit_code=args.unit,
                       name=args.name, ttl=timedelta(hours=args.hours))
    print(token)
    return 0


def cmd_apikey(args: argparse.Namespace) -> int:
    """Issue, list or revoke an integration API key in a service's database (the plaintext is shown once)."""
    import importlib

    from shared import apikeys
    from shared.db import create_engine, session_factory
    from shared.migrations import upgrade

    if args.action == "issue" and not args.name:
        print("mcc apikey issue: --name is required", file=sys.stderr)
        return 2
    if args.action == "revoke" and not args.id:
        print("mcc apikey revoke: --id is required", file=sys.stderr)
        return 2
    settings = _settings(args.service)
    table = importlib.import_module(f"services.{args.service}.adapters.orm").metadata.tables["api_key"]

    async def run() -> int:
        await upgrade(args.service, settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                if args.action == "issue":
                    record, plaintext = await apikeys.issue(session, table, name=args.name, scope_unit=args.scope)
                    await session.commit()
                    print(f"id:    {record.id}\nname:  {record.name}\nscope: {record.scope_unit or 'city-wide'}")
                    print(f"key:   {plaintext}\n(shown once: only its hash is stored)")
                    return 0
                if args.action == "revoke":
                    done = await apikeys.revoke(session, table, key_id=args.id)
                    await session.commit()
                    print(f"{args.id}: revoked" if done else f"{args.id}: no such active key")
                    return 0 if done else 1
                for key in await apikeys.list_keys(session, table):
                    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                    print(f"{key.id}  {state:<18} {key.scope_unit or 'city-wide':<12} {key.name}")
                return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in this process (what a container runs)."""
    import uvicorn

    settings = _settings(args.service)
    uvicorn.run(f"services.{args.service}.bootstrap:app", factory=True, host=args.host or settings.host,
                port=args.port or settings.port, timeout_graceful_shutdown=15, access_log=False)
    return 0


def _settings(service: str):  # noqa: ANN202
    import importlib

    module = importlib.import_module(f"services.{service}.config")
    cls = next(getattr(module, n) for n in dir(module) if n.endswith("Settings") and n != "ServiceSettings")
    return cls()


def parser() -> argparse.ArgumentParser:
    from shared.auth import Role

    p = argparse.ArgumentParser(prog="mcc", description="mcc municipal command centre")
    sub = p.add_subparsers(dest="command", required=True)
    cli_users.register(sub)  # mcc user add|list (services/cli_users.py)

    up = sub.add_parser("up", help="run the whole stack locally (nats, redis, four services)")
    up.add_argument("--var", default="var", help="where databases, NATS data and logs go (default ./var)")
    up.add_argument("--nats-port", type=int, default=14222)
    up.add_argument("--redis-port", type=int, default=16379)
    up.add_argument("--ready-timeout", type=float, default=60)
    up.add_argument("--exit-when-ready", action="store_true", help="start, report readiness, stop (for checks)")
    up.add_argument("--cluster", action="store_true",
                    help="three NATS nodes (streams at R3) and two processes per service, on PostgreSQL")
    up.add_argument("--postgres", default=None, help="--cluster: PostgreSQL server URL (or MCC_POSTGRES_URL)")
    up.add_argument("--db-prefix", default="mcc", help="--cluster: databases are PREFIX_intake, ... (default mcc)")
    up.add_argument("--replicas", type=int, default=2, help="--cluster: processes per service (default 2)")
    up.set_defaults(func=cmd_up)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("service", choices=(*SERVICES, "all"), nargs="?", default="all")
    mig.set_defaults(func=cmd_migrate)

    mk = sub.add_parser("makemigration", help="autogenerate a migration from a service's models")
    mk.add_argument("service", choices=SERVICES)
    mk.add_argument("-m", "--message", required=True)
    mk.set_defaults(func=cmd_makemigration)

    tok = sub.add_parser("token", help="mint a bearer token")
    tok.add_argument("--role", required=True, choices=[r.value for r in Role])
    tok.add_argument("--unit", required=True, help="unit code the user acts for, e.g. 320612101")
    tok.add_argument("--subject", default=None,
                     help="the person the token acts for (recorded in every audit row); default: your login name")
    tok.add_argument("--name", default=None)
    tok.add_argument("--hours", type=float, default=12)
    tok.set_defaults(func=cmd_token)

    key = sub.add_parser("apikey", help="issue, list or revoke an integration API key (Open311 apps, detectors)")
    key.add_argument("action", choices=("issue", "list", "revoke"))
    key.add_argument("--service", required=True, choices=("intake", "grid"))
    key.add_argument("--name", help="who the key is for (issue)")
    key.add_argument("--scope", default=None, help="unit code the key is limited to (issue); default city-wide")
    key.add_argument("--id", help="key id (revoke)")
    key.set_defaults(func=cmd_apikey)

    serve = sub.add_parser("serve", help="run one service in this process")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    from services import dlq_cli
    from services.simulator import command as simulate

    dlq_cli.register(sub)
    simulate.register(sub)  # mcc simulate (services/simulator)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
