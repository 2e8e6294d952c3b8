"""The token secret a service will run with, and the lifetime a token may claim (issue 14, item 1)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.auth import DEFAULT_SECRET, check_token_secret, decode_token, mint_token

STRONG = "0123456789abcdef0123456789abcdef-strong"


def test_a_postgres_deployment_refuses_the_published_default_secret_and_short_ones():
    with pytest.raises(RuntimeError, match="published default"):
        check_token_secret(DEFAULT_SECRET, demo=False, strict=True)
    with pytest.raises(RuntimeError, match="32 bytes"):
        check_token_secret("short-secret", demo=False, strict=True)
    check_token_secret(STRONG, demo=False, strict=True)


def test_demo_mode_allows_the_default_and_sqlite_only_warns(caplog):
    check_token_secret(DEFAULT_SECRET, demo=True, strict=True)
    with caplog.at_level(logging.WARNING):
        check_token_secret(DEFAULT_SECRET, demo=False, strict=False)
    assert "published default" in caplog.text


def test_a_century_long_token_is_refused_and_a_day_long_one_accepted():
    century = mint_token(STRONG, subject="s", role="admin", unit_code="320600", ttl=timedelta(days=36500))
    day = mint_token(STRONG, subject="s", role="admin", unit_code="320600", ttl=timedelta(days=1))
    with pytest.raises(ValueError, match="longer than"):
        decode_token(STRONG, century, max_lifetime_s=90 * 86400)
    assert decode_token(STRONG, day, max_lifetime_s=90 * 86400).kind == "script"
    with pytest.raises(ValueError):
        decode_token(STRONG, day, audience="another-deployment")


def test_a_token_without_a_subject_is_refused_and_none_can_be_minted():
    import jwt

    from shared.events.envelope import utcnow

    now = utcnow()
    for sub in ("", "  "):
        forged = jwt.encode({"sub": sub, "role": "operator", "unit": "320600", "iat": now,
                             "exp": now + timedelta(hours=1), "iss": "mcc", "aud": "mcc"}, STRONG, algorithm="HS256")
        with pytest.raises(ValueError, match="subject"):
            decode_token(STRONG, forged)
        with pytest.raises(ValueError, match="subject"):
            mint_token(STRONG, subject=sub, role="operator", unit_code="320600")


def test_mcc_token_names_the_person_at_the_terminal_when_no_subject_is_given(capsys, monkeypatch):
    import getpass

    from services.cli import main
    from shared.settings import ServiceSettings

    monkeypatch.setattr(getpass, "getuser", lambda: "zhang.wei")
    assert main(["token", "--role", "operator", "--unit", "320600"]) == 0
    principal = decode_token(ServiceSettings().token_secret, capsys.readouterr().out.strip())
    assert principal.subject == "zhang.wei"
    assert main(["token", "--role", "operator", "--unit", "320600", "--subject", "li.na"]) == 0
    assert decode_token(ServiceSettings().token_secret, capsys.readouterr().out.strip()).subject == "li.na"
