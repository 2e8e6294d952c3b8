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


def _bearer(stack: Stack, role: str, unit: str) -> dict[str, str]:
    """A bearer token minted the way `mcc token --role ROLE --unit UNIT` does."""
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    secret = stack.env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
    return {"Authorization": f"Bearer {mint_token(secret, subject=f'e2e-{role}', role=role, unit_code=unit)}"}


@pytest.fixture(scope="module")
def operator_headers(stack: Stack) -> dict[str, str]:
    """A 12345 operator's token."""
    return _bearer(stack, "operator", "320600")


@pytest.fixture(scope="module")
def city_headers(stack: Stack) -> dict[str, str]:
    """The city command centre's token: it sees every order."""
    return _bearer(stack, "city_dispatcher", "320600")
