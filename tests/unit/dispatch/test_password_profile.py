"""Password hashes use RFC 9106's low-memory Argon2id unless told otherwise; the cheap profile the tests use
is refused outside a demo."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.dispatch.config import DispatchSettings

pytestmark = pytest.mark.unit


def test_a_deployment_that_says_nothing_hashes_with_rfc_9106_low_memory(monkeypatch):
    monkeypatch.delenv("MCC_DISPATCH_PASSWORD_PROFILE", raising=False)
    assert DispatchSettings().password_profile == "RFC_9106_LOW_MEMORY"


def test_the_cheapest_profile_is_refused_outside_demo_mode(monkeypatch):
    monkeypatch.setenv("MCC_DISPATCH_PASSWORD_PROFILE", "CHEAPEST")
    monkeypatch.setenv("MCC_DEMO", "false")
    with pytest.raises(ValidationError, match="CHEAPEST"):
        DispatchSettings()
    monkeypatch.setenv("MCC_DEMO", "true")
    assert DispatchSettings().password_profile == "CHEAPEST"
