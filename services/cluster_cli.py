"""`mcc up --cluster`: the command centre as a city runs it on several machines, on this one.

Three nats-servers form one JetStream cluster (Raft; every stream at three replicas, so a write is
acknowledged once two servers have it), each service runs as two processes sharing the work (durable pull
consumers; dispatch's timers are claimed with `FOR UPDATE SKIP LOCKED`), and the databases are PostgreSQL:
SQLite is one file on one disk and cannot be shared by replicas on several machines, so cluster mode needs a
PostgreSQL server (`--postgres URL`, or `MCC_POSTGRES_URL`). A database per service is created on it when
missing (`<prefix>_intake`, ...).

The first replica of every service starts (and migrates its database) before the second, so two processes
never race to migrate the same schema. Intake reads grid's registry snapshot from the first grid replica;
it keeps its last snapshot when that replica is down, so locating goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from services.cli import (
    SERVICES,
    ServiceProcess,
    run_until_stopped,
    service_env,
    start_service,
    stop_all,
    stop_on_signals,
    wait_ready,
)
from shared.devservers import ServerProcess, free_port, nats_cluster, redis_server

REPLICAS = 2
NODES = 3


@dataclass
class Cluster:
    """A running cluster: NATS nodes, Redis and `replicas` processes of each service."""

    var: Path
    nats: list[ServerProcess]
    redis: ServerProcess
    env: dict[str, str]
    replicas: int
    services: dict[str, ServiceProcess] = field(default_factory=dict)  # "dispatch-1" -> its process

    @property
    def nats_url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{n.port}" for n in self.nats)

    def url(self, service: str, replica: int = 1) -> str:
        return self.services[f"{service}-{replica}"].url

    def replica_names(self, service: str) -> list[str]:
        return [f"{service}-{i}" for i in range(1, self.replicas + 1)]

    def start_replica(self, name: str) -> ServiceProcess:
        """Start (or start again) one replica on its port; its log is logs/<name>.log."""
        service, _, _ = name.rpartition("-")
        port = self.services[name].port if name in self.services else free_port()
        env = dict(self.env, **{f"MCC_{service.upper()}_PORT": str(port)})
        self.services[name] = start_service(service, port, env, self.var / "logs", label=name)
        return self.services[name]

    def kill(self, name: str) -> None:
        """kill -9 one replica (`dispatch-1`) or one NATS node (`nats-n2`)."""
        if name.startswith("nats-"):
            next(n for n in self.nats if n.name == name).kill()
            return
        proc = self.services[name].proc
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def restart_nats(self, name: str) -> None:
        next(n for n in self.nats if n.name == name).start()

    def stream_leader(self, stream: str) -> str:
        """The NATS node (`nats-n2`) that leads `stream` now, from JetStream's own stream info."""
        info = asyncio.run(self._stream_info(stream))
        return "nats-" + (info.cluster.leader if info.cluster else "").removeprefix("mcc-")

    def stream_replicas(self, stream: str) -> int:
        return int(asyncio.run(self._stream_info(stream)).config.num_replicas or 1)

    async def _stream_info(self, stream: str):  # noqa: ANN202 - nats.js.api.StreamInfo
        import nats as nats_client

        nc = await nats_client.connect(servers=self.nats_url.split(","), connect_timeout=2)
        try:
            return await nc.jetstream(timeout=5).stream_info(stream)
        finally:
            await nc.close()

    def stop(self) -> None:
        stop_all(list(self.services.values()), [*self.nats, self.redis])


def ensure_databases(postgres_url: str, prefix: str) -> dict[str, str]:
    """A database per service on the PostgreSQL server of `postgres_url`, created when missing."""
    import asyncpg

    base = make_url(postgres_url)

    async def create() -> None:
        conn = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            for name in SERVICES:
                if not await conn.fetchval("select 1 from pg_database where datname = $1", f"{prefix}_{name}"):
                    await conn.execute(f'CREATE DATABASE "{prefix}_{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return {name: base.set(database=f"{prefix}_{name}").render_as_string(hide_password=False) for name in SERVICES}


def start_cluster(var: Path, *, database_urls: dict[str, str], replicas: int = REPLICAS,
                  nats_ports: list[int] | None = None, ready_timeout: float = 120,
                  extra_env: dict[str, str] | None = None) -> Cluster:
    """Start three NATS nodes, Redis and `replicas` processes of each service; wait until all are ready."""
    (var / "logs").mkdir(parents=True, exist_ok=True)
    nodes = nats_cluster(var / "nats", NODES, nats_ports)
    redis = redis_server(var / "redis", persist=True)
    cluster = Cluster(var, nodes, redis, {}, replicas)
    try:
        for node in nodes:
            node.start()
        redis.start()
        first_ports = {name: free_port() for name in SERVICES}
        env = service_env(var, nats_url=cluster.nats_url, redis_url=f"redis://127.0.0.1:{redis.port}/0",
                          ports=first_ports, json_logs=True)
        env.update({f"MCC_{name.upper()}_DATABASE_URL": url for name, url in database_urls.items()})
        env["MCC_STREAM_REPLICAS"] = str(NODES)
        env.update(extra_env or {})
        cluster.env = env
        for replica in range(1, replicas + 1):  # all first replicas (migrations), then the rest
            started = []
            for name in SERVICES:
                label = f"{name}-{replica}"
                if replica == 1:
                    cluster.services[label] = start_service(name, first_ports[name], env, var / "logs", label=label)
                else:
                    cluster.start_replica(label)
                started.append(cluster.services[label])
            ready = wait_ready(started, timeout=ready_timeout)
            if not all(ready.values()):
                raise RuntimeError(f"not ready: {[n for n, ok in ready.items() if not ok]}; logs in {var / 'logs'}")
        return cluster
    except BaseException:
        cluster.stop()
        raise


def cmd_up_cluster(args: argparse.Namespace) -> int:
    """`mcc up --cluster`: start the cluster, print what runs where, stop everything on Ctrl-C."""
    postgres = args.postgres or os.environ.get("MCC_POSTGRES_URL")
    if not postgres:
        print("mcc up --cluster needs PostgreSQL: give --postgres postgresql://USER@HOST:5432/DB (or set "
              "MCC_POSTGRES_URL); a database per service is created on that server. SQLite cannot be shared "
              "by replicas.")
        return 2
    var = Path(args.var).resolve()
    urls = ensure_databases(postgres, args.db_prefix)
    print(f"mcc: starting a cluster (3 NATS nodes, {args.replicas} processes per service; logs in "
          f"{var / 'logs'}) ...", flush=True)
    cluster = start_cluster(var, database_urls=urls, replicas=args.replicas, ready_timeout=args.ready_timeout)
    stopping = stop_on_signals()
    try:
        print("\nmcc cluster is up:\n")
        for node in cluster.nats:
            print(f"  {node.name:<12} nats://127.0.0.1:{node.port}  (JetStream R3, data in {node.data_dir})")
        print(f"  {'redis':<12} redis://127.0.0.1:{cluster.redis.port}")
        for name, s in cluster.services.items():
            print(f"  {name:<12} {s.url}")
        for name, url in urls.items():
            print(f"  {name + ' db':<12} {make_url(url).render_as_string(hide_password=True)}")
        (var / "cluster.json").write_text(json.dumps(
            {"nats": cluster.nats_url, "services": {n: s.url for n, s in cluster.services.items()}}, indent=2))
        print(f"\nAddresses also in {var / 'cluster.json'}. Put a load balancer (or any replica) in front of each "
              "service. Press Ctrl-C to stop everything.\n", flush=True)
        if args.exit_when_ready:
            return 0
        run_until_stopped(list(cluster.services.values()), var / "logs", stopping)
        return 0
    finally:
        print("mcc: stopping ...", flush=True)
        cluster.stop()
        print("mcc: stopped", flush=True)
