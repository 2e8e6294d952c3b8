"""A simulation's private stack stops as `mcc up` does (services.cli.stop_all): services drain, then the servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.cli import ServiceProcess
from services.simulator.stack import OwnStack
from shared.devservers import nats_server, redis_server
from tests.support.polling import eventually_sync

# A stand-in service that says when it can take SIGTERM, and on SIGTERM records that it drained and exits 0.
DRAINING = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: (out.joinpath("drained").write_text("yes"), sys.exit(0)))
out.joinpath("ready").write_text("yes")
while True:
    time.sleep(1)
"""


def test_stopping_a_simulation_stack_drains_its_services_and_stops_its_servers(tmp_path: Path):
    nats, redis = nats_server(tmp_path / "nats").start(), redis_server(tmp_path / "redis").start()
    proc = subprocess.Popen([sys.executable, "-c", DRAINING, str(tmp_path)])
    try:
        eventually_sync(lambda: (tmp_path / "ready").exists(), message="the stand-in service started")
        stack = OwnStack(tmp_path, {}, nats, redis, {"hotline": ServiceProcess("hotline", 0, proc)})
        stack.stop()
        assert proc.returncode == 0 and (tmp_path / "drained").read_text() == "yes"  # SIGTERM, not a kill
        assert nats.proc.poll() is not None and redis.proc.poll() is not None
    finally:
        for p in (proc, nats.proc, redis.proc):
            if p.poll() is None:
                p.kill()
