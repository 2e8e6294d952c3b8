from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One whole command centre per test module (starting four services costs seconds)."""
    running = Stack.start(Path(tmp_path_factory.mktemp("stack")))
    try:
        running.wait_ready(60)
        yield running
    finally:
        running.stop()
