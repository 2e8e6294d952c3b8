"""The pipeline benchmarks still run end to end (a handful of appeals; speed is not asserted here: benchmarks
print figures, tests check that every appeal became one work order and the bare pipeline lost nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_pipeline_benchmark_turns_every_quick_appeal_into_exactly_one_order(backend):
    argv = ["benchmarks/pipeline.py", "--quick", "--backend", backend]
    if POSTGRES_URL:
        argv += ["--database-url", POSTGRES_URL]
    out = _run(*argv)
    assert "every accepted appeal became one work order" in out
    assert out.count("12/12 accepted, 12 orders") == 1 and out.count("8/8 accepted, 8 orders") == 1, out
    if backend == "postgres":
        assert "bare pipeline: 200 events" in out and "rows 200, downstream 200" in out, out


@pytest.mark.skipif(not POSTGRES_URL, reason="the bare pipeline needs PostgreSQL (MCC_TEST_POSTGRES_URL)")
def test_the_bare_pipeline_makes_one_row_and_one_downstream_event_per_event():
    out = _run("benchmarks/bare_pipeline.py", "--events", "300", "--loops", "2", "--database-url", POSTGRES_URL)
    assert "rows 300, downstream 300" in out and "every event made one row and one downstream event" in out, out
