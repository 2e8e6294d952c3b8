#!/usr/bin/env python
"""The whole path, as a city runs it: hotline API -> intake -> dispatch, until the work order is committed.

The stack is started the way `mcc up` starts it (tests/support/stack.py: nats-server with fsync'd JetStream,
redis-server, the four services as uvicorn processes), on PostgreSQL (a fresh database per service on
`--database-url`, dropped after) and/or SQLite (a file per service). Appeals are posted with an operator's
token through an HTTP/1.1 keep-alive pool (benchmarks/rawhttp.py: ~0.1 ms of the generator's CPU per post,
where httpx took ~9 ms on the same cores); every appeal is a dispatchable complaint at a point of
the demo city, so each must become exactly one work order (the run checks it).

- closed loop (`--concurrency C`, `--appeals N`): C clients post back to back; throughput = N / (first post
  -> last order committed).
- open loop (`--rate R`, `--seconds S`): posts leave on schedule whatever the server does; latency per appeal =
  its order's `created_at` (stamped in dispatch's committing transaction) - the moment its post left.

Printed per run: incidents/s, latency p50/p99, CPU seconds per incident summed over the four service
processes (psutil), nats-server's and the load generator's own, and the load average. On PostgreSQL the bare
pipeline (benchmarks/bare_pipeline.py: same durability, no mcc) runs in the same run and the ratio is printed.
Targets (issue 10): >= 500 incidents/s and >= 0.25 x bare; p99 < 1 s at 200 appeals/s offered.

    .venv/bin/python benchmarks/pipeline.py                       # both backends, both modes, 3 runs
    .venv/bin/python benchmarks/pipeline.py --backend postgres --mode closed --concurrency 64 --appeals 5000
    .venv/bin/python benchmarks/pipeline.py --backend postgres --mode open --rate 200 --seconds 20
    .venv/bin/python benchmarks/pipeline.py --quick               # a handful of appeals, for the smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_PG = os.environ.get("MCC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVICES = ("grid", "intake", "dispatch", "hotline")
CENTRE = (120.87, 32.01)  # 南通: inside the demo city's grids
DESCRIPTIONS = ("路灯不亮已经一周", "小区门口垃圾三天没有清运", "人行道井盖松动有安全隐患", "小区绿化带杂草丛生无人修剪")


@dataclass
class Run:
    backend: str
    mode: str
    offered: str
    sent: int = 0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sent_offsets: list[float] = field(default_factory=list)  # when each latency's post left, s after the start
    retries: int = 0  # posts tried again after a broken connection (same Idempotency-Key)
    cpu_services: float = 0.0
    cpu_nats: float = 0.0
    cpu_client: float = 0.0
    cpu_by_service: dict[str, float] = field(default_factory=dict)
    commits: dict[str, int] = field(default_factory=dict)  # database commits per service
    messages: dict[str, int] = field(default_factory=dict)  # JetStream messages stored per stream
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def ok(self) -> bool:
        return self.accepted == self.sent and self.orders == self.accepted and not self.errors

    def line(self) -> str:
        p = (f"p50 {pct(self.latencies, .5):.3f} s p99 {pct(self.latencies, .99):.3f} s max "
             f"{max(self.latencies):.3f} s" if self.latencies else "")
        per = 1000 / max(1, self.orders)
        return (f"{self.backend:8s} {self.mode:6s} {self.offered:14s} {self.accepted}/{self.sent} accepted, "
                f"{self.orders} orders in {self.seconds:.1f} s = {self.rate:6.1f} incidents/s; appeal->order {p}; "
                f"CPU/incident: services {per * self.cpu_services:.1f} ms, nats {per * self.cpu_nats:.1f} ms, "
                f"load generator {per * self.cpu_client:.1f} ms ("
                + ", ".join(f"{k} {per * v:.1f}" for k, v in self.cpu_by_service.items())
                + ")" + self.counts() + f"; load avg {self.load[0]:.2f}"
                + (f"; {self.retries} retried" if self.retries else "")
                + (f"; ERRORS {self.errors}" if self.errors else ""))


    def timeline(self) -> str:
        """Latency by the second its posts left: where a tail comes from (a start, a pause, a steady drift)."""
        seconds: dict[int, list[float]] = {}
        for at, latency in zip(self.sent_offsets, self.latencies, strict=True):
            seconds.setdefault(int(at), []).append(latency)
        return "\n".join(f"    second {s:3d}: {len(v):4d} posts, p50 {pct(v, .5):.3f} s, max {max(v):.3f} s"
                         for s, v in sorted(seconds.items()))

    def counts(self) -> str:
        per = 1 / max(1, self.orders)
        text = ""
        if self.commits:
            text += (f"; commits/incident {per * sum(self.commits.values()):.2f} ("
                     + ", ".join(f"{k} {per * v:.2f}" for k, v in self.commits.items()) + ")")
        if self.messages:
            text += (f"; JetStream messages/incident {per * sum(self.messages.values()):.2f} ("
                     + ", ".join(f"{k} {per * v:.2f}" for k, v in self.messages.items() if v) + ")")
        return text


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))] if ordered else float("nan")


def _cpu(pid: int) -> float:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    return 0.0


class Pipeline:
    """A running stack on one backend, with a reader of dispatch's orders."""

    def __init__(self, backend: str, pg_url: str, var: Path) -> None:
        self.backend, self.pg_url, self.var = backend, pg_url, var
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Pipeline:
        from dispatch_two_processes import bench_database

        from tests.support.stack import Stack

        urls = None
        if self.backend == "postgres":
            urls = {name: self._exit.enter_context(bench_database(self.pg_url)) for name in SERVICES}
        try:
            self.stack = Stack.start(self.var, database_urls=urls)
            self._exit.callback(self.stack.stop)
            self.stack.wait_ready(120)
        except BaseException:
            self._exit.close()
            raise
        self.dispatch_url = self.stack.env["MCC_DISPATCH_DATABASE_URL"]
        self.doubled = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.stack.services.values()]

    def cpu(self) -> tuple[float, float]:
        return sum(_cpu(p) for p in self.pids()), _cpu(self.stack.nats.proc.pid)

    async def commits(self) -> dict[str, int]:
        """Database transactions each service has committed so far (its mcc_db_commits_total)."""
        import httpx

        found = {}
        async with httpx.AsyncClient(timeout=30) as client:
            for name in self.stack.services:
                text = (await client.get(f"{self.stack.url(name)}/metrics")).text
                found[name] = int(sum(float(line.split()[-1]) for line in text.splitlines()
                                      if line.startswith("mcc_db_commits_total")))
        return found

    async def messages(self) -> dict[str, int]:
        """Messages each JetStream stream has stored so far (its last sequence)."""
        import nats

        nc = await nats.connect(self.stack.env["MCC_NATS_URL"])
        try:
            js = nc.jetstream()
            return {info.config.name: info.state.last_seq for info in await js.streams_info()}
        finally:
            await nc.close()

    def cpu_by_service(self) -> dict[str, float]:
        return {name: _cpu(s.proc.pid) for name, s in self.stack.services.items()}

    def headers(self) -> dict[str, str]:
        from shared.auth import mint_token
        from shared.settings import ServiceSettings

        secret = self.stack.env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
        return {"Authorization": f"Bearer {mint_token(secret, subject='bench-operator', role='operator', unit_code='320600')}"}

    async def orders(self, numbers: set[str], *, timeout: float) -> dict[str, datetime]:
        """created_at of the orders of these appeals, waiting (by progress) until all are there or none come."""
        from sqlalchemy import text

        from shared.db import create_engine

        engine = create_engine(self.dispatch_url, pool_size=1)
        found: dict[str, datetime] = {}
        last_progress = time.monotonic()
        try:
            while len(found) < len(numbers) and time.monotonic() - last_progress < timeout:
                async with engine.connect() as conn:
                    rows = (await conn.execute(text("select source_ref, created_at from work_order where "
                                                    "channel = 'hotline'"))).all()
                before = len(found)
                seen: dict[str, int] = {}
                for ref, created in rows:
                    if ref in numbers:
                        seen[ref] = seen.get(ref, 0) + 1
                        found.setdefault(ref, _aware(created))
                self.doubled = sum(1 for n in seen.values() if n > 1)
                if len(found) > before:
                    last_progress = time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            await engine.dispose()
        return found


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def appeal_body(i: int) -> dict:
    lon, lat = CENTRE
    return {"caller_phone": f"139{random.randrange(10**8):08d}", "appeal_type": "complaint",
            "category_code": "020101", "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
            "coordinates": {"lon": round(lon + random.uniform(-0.02, 0.02), 6),
                            "lat": round(lat + random.uniform(-0.02, 0.02), 6)}}


async def _post(pool, path: str, headers: dict, i: int, sent_at: dict[str, float], run: Run) -> None:
    run.sent += 1
    started = time.time()
    body, key = appeal_body(i), uuid.uuid4().hex
    # As a console or an app does: a connection that broke before the answer (the server closed an idle
    # keep-alive connection as the request went out) is tried again with the same Idempotency-Key, which makes
    # the retry safe; a retry is counted, and an appeal that still gets no answer is an error.
    for attempt in range(3):
        try:
            status, answer = await pool.request("POST", path, json_body=body,
                                                headers={**headers, "Idempotency-Key": key})
            break
        except ConnectionError as exc:
            if attempt == 2:
                run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
                return
            run.retries += 1
        except Exception as exc:  # noqa: BLE001 - counted and printed, never hidden
            run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
            return
    if status != 201:
        run.errors[str(status)] = run.errors.get(str(status), 0) + 1
        return
    run.accepted += 1
    sent_at[json.loads(answer)["number"]] = started


def start_profilers(p: Pipeline, directory: Path | None, label: str) -> list:
    """py-spy (a dev tool: pip install py-spy) sampling each service during the measured phase, as collapsed
    stacks DIR/<label>-<service>.txt (flamegraph.pl or speedscope read them)."""
    import subprocess

    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return [subprocess.Popen([spy, "record", "--pid", str(s.proc.pid), "--rate", "200", "--format", "raw",
                              "--nonblocking", "-o", str(directory / f"{label}-{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, s in p.stack.services.items()]


def stop_profilers(profilers: list) -> None:
    import signal

    for proc in profilers:
        proc.send_signal(signal.SIGINT)
    for proc in profilers:
        proc.wait(30)


async def drive(p: Pipeline, *, mode: str, rate: float, seconds: float, concurrency: int, appeals: int,
                timeout: float, profile: Path | None = None) -> Run:
    """One measured phase: post appeals (open or closed loop), wait for their orders, take the figures."""
    from rawhttp import Pool

    path = "/api/v1/appeals"
    headers = p.headers()
    offered = f"{rate:g}/s x {seconds:g} s" if mode == "open" else f"{concurrency} clients"
    run = Run(p.backend, mode, offered)
    sent_at: dict[str, float] = {}
    pool = concurrency if mode == "closed" else max(64, int(rate))
    client = Pool.for_url(p.stack.url("hotline"), size=pool)
    try:
        # Warm up: connections open and every service has carried an incident before the clock starts.
        await asyncio.gather(*[_post(client, path, headers, i, {}, Run("", "", "")) for i in range(4)])
        await asyncio.sleep(2)  # the warm-up's incidents go through
        cpu0, nats0, client0 = *p.cpu(), time.process_time()
        by_service0 = p.cpu_by_service()
        commits0, messages0 = await p.commits(), await p.messages()
        profilers = start_profilers(p, profile, f"{p.backend}-{mode}")
        started = time.time()
        if mode == "closed":
            counter = iter(range(appeals))

            async def worker() -> None:
                for i in counter:
                    await _post(client, path, headers, i, sent_at, run)

            await asyncio.gather(*[worker() for _ in range(concurrency)])
        else:
            tasks, total = [], int(rate * seconds)
            t0 = time.monotonic()
            for i in range(total):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(_post(client, path, headers, i, sent_at, run)))
            await asyncio.gather(*tasks)
    finally:
        await client.close()
        client1 = time.process_time()  # the generator's own work, not the wait for orders below
    orders = await p.orders(set(sent_at), timeout=timeout)
    stop_profilers(profilers)
    cpu1, nats1 = p.cpu()
    run.cpu_by_service = {k: v - by_service0.get(k, 0.0) for k, v in p.cpu_by_service().items()}
    run.cpu_services, run.cpu_nats, run.cpu_client = cpu1 - cpu0, nats1 - nats0, client1 - client0
    run.orders = len(orders)
    commits1, messages1 = await p.commits(), await p.messages()
    run.commits = {k: v - commits0.get(k, 0) for k, v in commits1.items()}
    run.messages = {k: v - messages0.get(k, 0) for k, v in messages1.items()}
    if p.doubled:
        run.errors["appeals with more than one order"] = p.doubled
    if orders:
        run.seconds = max(t.timestamp() for t in orders.values()) - started
    run.latencies = [orders[n].timestamp() - sent_at[n] for n in orders]
    run.sent_offsets = [sent_at[n] - started for n in orders]
    run.load = os.getloadavg()
    return run


async def one_backend(backend: str, args: argparse.Namespace) -> list[Run]:
    runs = []
    modes = ["closed", "open"] if args.mode == "both" else [args.mode]
    for _ in range(args.runs):
        var = Path(tempfile.mkdtemp(prefix=f"mcc-bench-pipeline-{backend}-"))
        try:
            with Pipeline(backend, args.database_url, var) as p:
                for mode in modes:
                    run = await drive(p, mode=mode, rate=args.rate, seconds=args.seconds,
                                      concurrency=args.concurrency, appeals=args.appeals, timeout=args.timeout,
                                      profile=args.profile)
                    print(run.line(), flush=True)
                    if args.timeline:
                        print(run.timeline(), flush=True)
                    runs.append(run)
        finally:
            if args.keep:
                print(f"kept {var}")
            else:
                shutil.rmtree(var, ignore_errors=True)
    return runs


def summary(runs: list[Run], bare: list[float]) -> None:
    print("\nsummary (ranges over runs):")
    for backend in dict.fromkeys(r.backend for r in runs):
        for mode in ("closed", "open"):
            mine = [r for r in runs if r.backend == backend and r.mode == mode]
            if not mine:
                continue
            rates = [r.rate for r in mine]
            cpu = [1000 * r.cpu_services / max(1, r.orders) for r in mine]
            loads = [r.load[0] for r in mine]
            line = (f"  {backend:8s} {mode:6s} {mine[0].offered:14s} {min(rates):6.1f}–{max(rates):6.1f} "
                    f"incidents/s, CPU {min(cpu):.1f}–{max(cpu):.1f} ms/incident, load avg "
                    f"{min(loads):.1f}–{max(loads):.1f}")
            if mode == "open":
                p99 = [pct(r.latencies, .99) for r in mine]
                p50 = [pct(r.latencies, .5) for r in mine]
                line += f", p50 {min(p50):.3f}–{max(p50):.3f} s, p99 {min(p99):.3f}–{max(p99):.3f} s"
            if mode == "closed" and bare:
                line += (f", ratio to bare {min(rates) / max(bare):.3f}–{max(rates) / min(bare):.3f} "
                         f"(bare {min(bare):,.0f}–{max(bare):,.0f} events/s)")
            print(line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    p.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL server (default: %(default)s)")
    p.add_argument("--mode", choices=["closed", "open", "both"], default="both")
    p.add_argument("--concurrency", type=int, default=64, help="closed loop: clients (default: %(default)s)")
    p.add_argument("--appeals", type=int, default=3000, help="closed loop: appeals (default: %(default)s)")
    p.add_argument("--rate", type=float, default=200, help="open loop: appeals/s offered (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=15, help="open loop: seconds (default: %(default)s)")
    p.add_argument("--runs", type=int, default=3, help="stacks started afresh, for ranges (default: %(default)s)")
    p.add_argument("--bare-events", type=int, default=20_000, help="bare pipeline events per run on "
                                                                   "PostgreSQL; 0 skips it (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60, help="give up on orders after this long without progress")
    p.add_argument("--quick", action="store_true", help="a handful of appeals per mode, one run (smoke test)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directories (logs)")
    p.add_argument("--timeline", action="store_true",
                   help="print each run's latency by the second its posts left (where a p99 comes from)")
    p.add_argument("--profile", type=Path, help="py-spy each service during the measured phase; collapsed "
                                                "stacks into this directory (pip install py-spy)")
    args = p.parse_args()
    if args.quick:
        args.runs, args.appeals, args.concurrency, args.rate, args.seconds = 1, 12, 4, 4, 2
        args.bare_events = min(args.bare_events, 200)
    print(f"{os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    runs: list[Run] = []
    bare: list[float] = []
    for backend in backends:
        runs += asyncio.run(one_backend(backend, args))
        if backend == "postgres" and args.bare_events and args.mode != "open":
            from bare_pipeline import run_bare

            for _ in range(args.runs):
                result = asyncio.run(run_bare(events=args.bare_events, database_url=args.database_url))
                print(result.line() + f"; load avg {os.getloadavg()[0]:.2f}", flush=True)
                bare.append(result.rate)
    summary(runs, bare)
    ok = all(r.ok() for r in runs)
    print("every accepted appeal became one work order" if ok else "MISMATCH: appeals lost or refused (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
