"""`make run` on a fresh machine says what it is doing while it installs (a step counter, and pip naming each
package) instead of two minutes of silence."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_on_a_fresh_machine_shows_install_steps_and_pips_progress(tmp_path):
    # -n: what `make run` would run with no .venv yet (nothing is executed, nothing installed).
    # Run as a top-level make even under `make test`: a nested make prints "make[1]: Entering directory" lines
    # and inherits the parent's flags.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    plan = subprocess.run(["make", "--no-print-directory", "-n", "run", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, check=True, env=env).stdout.splitlines()
    steps = [line for line in plan if line.startswith("echo \"mcc install [")]
    assert [s.split("]")[0][-3:] for s in steps] == ["1/3", "2/3", "3/3"]
    lock_install = next(line for line in plan if "-r requirements.lock" in line)
    assert "--quiet" not in lock_install and " -q" not in lock_install
    assert plan.index(steps[1]) < plan.index(lock_install)  # the counter comes before the long step
    assert plan[-1].endswith("mcc up")
