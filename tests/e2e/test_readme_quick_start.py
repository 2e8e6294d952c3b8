"""The README's quick start works as written: its commands, taken from README.md, run against `mcc up` started
the way `make run` starts it, and print what the README says they print.

Only what the README tells the reader to fill in is filled in: `<number>` and `<unit_code>` by that field of the
latest answer that printed it, and the orders query is run again while it answers `"total": 0`, as the README says."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<(number|unit_code)>")
# What an expected-output line shows: "key": "string" or "key": integer. Numbers of the day are not compared.
SHOWN = re.compile(r'"(\w+)": (?:"([^"]*)"|(-?\d+)(?=[,}\]\s]))')
OF_THE_DAY = {"number"}


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def is_read(self) -> bool:
        return "curl" in self.command and "-X POST" not in self.command


def quick_start() -> tuple[str, list[Step]]:
    """The Quick start section's two shell blocks: how to start, and the walk-through as steps."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Quick start"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    start, walk = blocks[0], blocks[1]
    steps: list[Step] = []
    pending = ""
    for line in walk.splitlines():
        if not pending and line.lstrip().startswith("#"):
            if steps and (line.lstrip().startswith("# →") or line.startswith("#  ")):
                steps[-1].expected.append(line.lstrip("# →"))
            continue
        pending += line + "\n"
        if line.endswith("\\") or not _complete(pending):
            continue
        steps.append(Step(pending.strip()))
        pending = ""
    assert not pending, f"unfinished command in the README: {pending}"
    return start, steps


def _complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def find(value: Any, key: str) -> Any:
    """The first `key` in a JSON answer, depth first."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = find(item, key)
            if found is not None:
                return found
    return None


class Shell:
    """One bash the steps run in, one after the other, so assignments carry over as in a terminal."""

    MARK = "__readme_step_done__"

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, command: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{command}\necho; echo {self.MARK}$?\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            if line.startswith(self.MARK):
                assert line.strip() == f"{self.MARK}0", f"`{command}` failed:\n{''.join(out)}"
                return "".join(out).strip()
            out.append(line)
        raise AssertionError(f"bash ended during `{command}`: {''.join(out)}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@contextlib.contextmanager
def make_run(cwd: Path, env: dict[str, str]) -> Iterator[Path]:
    """`mcc up` in `cwd`, as `make run` runs it; yields var/ports.env once it is written (the stack is up)."""
    mcc = Path(sys.executable).parent / "mcc"
    log = (cwd / "mcc-up.log").open("wb")
    proc = subprocess.Popen([str(mcc), "up"], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        ports = cwd / "var" / "ports.env"
        eventually_sync(lambda: ports.exists() or proc.poll() is not None, timeout=180, interval=0.2,
                        message="mcc up wrote var/ports.env")
        assert proc.poll() is None, (cwd / "mcc-up.log").read_text()
        yield ports
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def test_the_readme_quick_start_runs_as_written_against_mcc_up(tmp_path):
    start, steps = quick_start()
    assert "make run" in start
    assert "$(BIN)/mcc up" in (ROOT / "Makefile").read_text()  # what `make run` runs once installed
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCC_")}
    with make_run(tmp_path, env):
        shell = Shell(tmp_path, env)
        try:
            answers: list[Any] = []
            for step in steps:
                answers.append(_run(shell, step, answers))
        finally:
            shell.close()
    assert sum(bool(s.expected) for s in steps) >= 3  # appeal, order, sign-for: each checked


def _run(shell: Shell, step: Step, answers: list[Any]) -> Any:
    def fill(match: re.Match[str]) -> str:
        value = next((v for a in reversed(answers) if (v := find(a, match.group(1))) is not None), None)
        assert value is not None, f"no earlier command printed {match.group(1)}"
        return str(value)

    command = PLACEHOLDER.sub(fill, step.command)
    if not step.expected:
        return shell.run(command)

    def as_shown() -> Any:
        out = shell.run(command)
        answer = json.loads(out)
        wrong = _differences(answer, step.expected)
        return (answer,) if not wrong else None if step.is_read else pytest.fail(f"{command}\n{wrong}\n{out}")

    # A read may be repeated (the README says so for an order not made yet); a write runs once.
    deadline = time.monotonic() + 30
    while True:
        found = as_shown()
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"`{command}` never printed what the README shows"


def _differences(answer: Any, expected: list[str]) -> list[str]:
    wrong = []
    for key, text, number in SHOWN.findall(" ".join(expected)):
        if key in OF_THE_DAY:
            continue
        want: Any = text if not number else int(number)
        got = find(answer, key)
        if got != want:
            wrong.append(f"{key}: README shows {want!r}, got {got!r}")
    return wrong
