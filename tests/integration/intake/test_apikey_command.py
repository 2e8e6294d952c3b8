"""`mcc apikey` issues a key intake accepts, lists it without its secret, and revokes it."""

from __future__ import annotations

import re

from services.cli import main
from services.intake.adapters.orm import metadata
from shared import apikeys
from shared.db import create_engine, session_factory


async def _verify(url: str, plaintext: str):
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await apikeys.verify(session, metadata.tables["api_key"], plaintext)
    finally:
        await engine.dispose()


def test_a_key_issued_on_the_command_line_verifies_until_revoked(tmp_path, monkeypatch, capsys):
    import asyncio

    url = f"sqlite:///{tmp_path / 'intake.db'}"
    monkeypatch.setenv("MCC_INTAKE_DATABASE_URL", url)
    assert main(["apikey", "issue", "--service", "intake", "--name", "南通百通", "--scope", "320613"]) == 0
    issued = capsys.readouterr().out
    plaintext = re.search(r"key:\s+(\S+)", issued).group(1)
    key_id = re.search(r"id:\s+(\S+)", issued).group(1)
    assert asyncio.run(_verify(url, plaintext)).scope_unit == "320613"
    assert main(["apikey", "list", "--service", "intake"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "active" in listed and plaintext not in listed
    assert main(["apikey", "revoke", "--service", "intake", "--id", key_id]) == 0
    assert asyncio.run(_verify(url, plaintext)) is None
    assert main(["apikey", "issue", "--service", "intake"]) == 2
