"""`mcc up --cluster` says plainly what it needs instead of starting replicas on SQLite."""

from __future__ import annotations

import pytest

from services import cli

pytestmark = pytest.mark.unit


def test_cluster_mode_without_a_postgres_url_refuses_and_says_how_to_give_one(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MCC_POSTGRES_URL", raising=False)
    assert cli.main(["up", "--cluster", "--var", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "--postgres" in out and "MCC_POSTGRES_URL" in out
    assert not (tmp_path / "nats").exists()  # nothing was started


def test_cluster_mode_accepts_its_options():
    args = cli.parser().parse_args(["up", "--cluster", "--postgres", "postgresql://u@h/db", "--replicas", "3",
                                    "--db-prefix", "city"])
    assert (args.cluster, args.postgres, args.replicas, args.db_prefix) == (True, "postgresql://u@h/db", 3, "city")
