"""A token verified once is answered from memory until it expires; then it is refused like any expired one."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest

from shared import auth
from shared.auth import decode_token, mint_token

SECRET = "0123456789abcdef0123456789abcdef-cache"


def test_a_token_sent_again_is_not_verified_again_and_another_secret_or_audience_is_checked_afresh(monkeypatch):
    token = mint_token(SECRET, subject="op-1", role="operator", unit_code="320602", ttl=timedelta(minutes=5))
    assert decode_token(SECRET, token).subject == "op-1"
    calls = []
    real = jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert decode_token(SECRET, token).subject == "op-1"
    assert calls == []
    with pytest.raises(ValueError, match="invalid token"):
        decode_token(SECRET + "-other", token)
    with pytest.raises(ValueError, match="invalid token"):
        decode_token(SECRET, token, audience="another-deployment")
    with pytest.raises(ValueError, match="longer than"):
        decode_token(SECRET, token, max_lifetime_s=60)
    assert len(calls) == 3


def test_a_remembered_token_is_refused_once_its_expiry_has_passed():
    token = mint_token(SECRET, subject="op-2", role="operator", unit_code="320602", ttl=timedelta(seconds=2))
    assert decode_token(SECRET, token).subject == "op-2"
    deadline = time.monotonic() + 15
    while True:  # poll: the token expires two seconds after it was minted
        try:
            decode_token(SECRET, token)
        except ValueError as exc:
            assert "expired" in str(exc)
            break
        assert time.monotonic() < deadline, "an expired token was still accepted"
        time.sleep(0.05)


def test_the_memory_of_verified_tokens_is_bounded(monkeypatch):
    monkeypatch.setattr(auth, "_VERIFIED_MAX", 3)
    monkeypatch.setattr(auth, "_VERIFIED", type(auth._VERIFIED)())
    for i in range(10):
        decode_token(SECRET, mint_token(SECRET, subject=f"op-{i}", role="operator", unit_code="320602"))
    assert len(auth._VERIFIED) == 3
