"""Bounded, seeded schemathesis pass over every service's OpenAPI; fails on any 5xx or schema violation.

Run by `.ci/run` after `make test` (not inside the suite's time budget). It starts the stack as `mcc up` does
(nats-server, redis-server, the four services as uvicorn processes on SQLite, demo mode), gives schemathesis a
token and an integration key per service so that requests reach past 401, and runs each service's operations
with a fixed seed and a bounded number of examples. It prints, per service and in all: operations, requests,
server errors, schema violations and seconds.

    .venv/bin/python .ci/fuzz.py [--max-examples N] [--seed S] [--service grid ...]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.cli import SERVICES, service_env, start_service, wait_ready  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.devservers import free_port, nats_server, redis_server  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

# The callers schemathesis acts as, per service: between them they reach past 401/403 on every operation.
CALLERS = {"grid": [("admin", "320600"), ("city_dispatcher", "320600")],
           "intake": [("city_dispatcher", "320600")],
           "dispatch": [("city_dispatcher", "320600"), ("admin", "320600")],
           "hotline": [("operator", "320600"), ("city_dispatcher", "320600")]}
# What counts as a failure: a server error, an answer outside the documented schema or content type.
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
SERVER_ERROR = "ST101"  # schemathesis' code for a 5xx; every other failure code is a schema/content-type violation


def issue_key(service: str, env: dict[str, str]) -> str:
    """A city-wide integration key from `mcc apikey issue` (which also migrates the service's database)."""
    out = subprocess.run([sys.executable, "-m", "services.cli", "apikey", "issue", "--service", service,
                          "--name", "schemathesis"], env=env, capture_output=True, text=True, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("key:"))


def run_service(name: str, url: str, headers: dict[str, str], *, seed: int, max_examples: int,
                report_dir: Path) -> dict[str, float]:
    """One schemathesis run over one service's operations as one caller; its figures from its summary."""
    argv = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json", "--checks", CHECKS,
            "--seed", str(seed), "--max-examples", str(max_examples), "--workers", "2", "--no-shrink",
            "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all",
            "--request-timeout", "30", "--continue-on-failure", "--exclude-path-regex", "^/(healthz|readyz)$"]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    (report_dir / f"{name}.txt").write_text(proc.stdout + proc.stderr)
    figures = _figures(proc.stdout)
    figures["seconds"] = round(time.monotonic() - started, 1)
    figures["exit"] = proc.returncode
    return figures


def _figures(output: str) -> dict[str, float]:
    """Operations, requests and failures by kind, from the summary schemathesis prints."""
    tested = re.search(r"Tested:\s+(\d+)", output)
    generated = re.search(r"(\d+) generated", output)
    failures = {code: int(n) for code, n in re.findall(r"(ST\d+) [^:\n]+: (\d+)", output)}
    return {"operations": int(tested.group(1)) if tested else 0,
            "requests": int(generated.group(1)) if generated else 0,
            "server_errors": failures.pop(SERVER_ERROR, 0), "violations": sum(failures.values()),
            "errors": len(re.findall(r"^(?:Runtime|Network|Schema) Error", output, flags=re.M))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--max-examples", type=int, default=10)
    p.add_argument("--service", action="append", choices=SERVICES)
    p.add_argument("--report-dir", default=None)
    args = p.parse_args()
    # A CI timeout sends SIGTERM: leave through `finally`, which stops every process this started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chosen = args.service or list(SERVICES)
    var = Path(tempfile.mkdtemp(prefix="mcc-fuzz-"))
    report_dir = Path(args.report_dir or var / "reports")
    report_dir.mkdir(parents=True, exist_ok=True)
    (var / "logs").mkdir()
    nats, redis = nats_server(var / "nats", free_port()).start(), redis_server(var / "redis", free_port()).start()
    ports = {name: free_port() for name in SERVICES}
    env = service_env(var, nats_url=f"nats://127.0.0.1:{nats.port}", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                      ports=ports, json_logs=True)
    env["MCC_DEMO"] = "true"
    # The fuzzer sends made-up API keys on purpose: the per-address limit on failed authentication (tested in
    # tests/integration/intake/test_auth_failure_limits.py) would answer 429 to the rest of the run.
    env["MCC_AUTH_FAILURES_PER_MINUTE"] = "1000000"
    keys = {name: issue_key(name, env) for name in ("grid", "intake")}
    services = [start_service(name, ports[name], env, var / "logs") for name in SERVICES]
    totals = {"operations": 0, "requests": 0, "server_errors": 0, "violations": 0, "errors": 0, "seconds": 0.0}
    try:
        ready = wait_ready(services, timeout=180)
        if not all(ready.values()):
            print(f"fuzz: services not ready: {ready}; logs in {var / 'logs'}", file=sys.stderr)
            return 1
        secret = ServiceSettings().token_secret
        for s in services:
            if s.name not in chosen:
                continue
            for role, unit in CALLERS[s.name]:
                token = mint_token(secret, subject="fuzz", role=role, unit_code=unit)
                headers = {"Authorization": f"Bearer {token}"}
                if s.name in keys:
                    headers["X-Api-Key"] = keys[s.name]
                label = f"{s.name}-{role}"
                figures = run_service(label, s.url, headers, seed=args.seed, max_examples=args.max_examples,
                                      report_dir=report_dir)
                print(f"fuzz {label:<26} operations={figures['operations']} requests={figures['requests']} "
                      f"server_errors={figures['server_errors']} schema_violations={figures['violations']} "
                      f"errors={figures['errors']} seconds={figures['seconds']} "
                      f"(report {report_dir / (label + '.txt')})", flush=True)
                for k in totals:
                    totals[k] += figures[k]
    finally:
        for s in services:
            s.proc.terminate()
        for s in services:
            try:
                s.proc.wait(20)
            except subprocess.TimeoutExpired:
                s.proc.kill()
        nats.stop()
        redis.stop()
    print(f"fuzz total    operations={totals['operations']} requests={totals['requests']} "
          f"server_errors={totals['server_errors']} schema_violations={totals['violations']} "
          f"tool_errors={totals['errors']} "
          f"seconds={round(totals['seconds'], 1)} (seed {args.seed}, at most {args.max_examples} examples "
          f"per operation and phase; load {os.getloadavg()[0]:.1f})")
    return 0 if totals["server_errors"] == 0 and totals["violations"] == 0 and totals["operations"] else 1


if __name__ == "__main__":
    sys.exit(main())
