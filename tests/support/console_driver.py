"""Drives the operator console with the keyboard alone, counting keys: shared by the browser test and
benchmarks/console_call_to_dispatch.py so both measure the same call."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    phone: str
    description: str
    coordinates: str
    suggestion_key: str = "Alt+1"  # which suggested category the operator takes


@dataclass
class Keys:
    control: int = 0  # keys that are not the caller's words: Tab, shortcuts, F9 ...
    typed: int = 0  # characters of phone, description, coordinates (what the caller says)

    @property
    def total(self) -> int:
        return self.control + self.typed


def press(page, key: str, keys: Keys) -> None:  # noqa: ANN001 - a Playwright page
    page.keyboard.press(key)
    keys.control += 1


def type_text(page, text: str, keys: Keys, *, words: bool = True) -> None:  # noqa: ANN001
    page.keyboard.type(text)
    if words:
        keys.typed += len(text)
    else:
        keys.control += len(text)


def take_call(page, call: Call, *, timeout_ms: int = 60_000) -> tuple[Keys, float, str]:  # noqa: ANN001
    """Type one call on an open console (focus in the phone field) and submit it with F9.

    Returns the keys used, the seconds from the first key to the committed appeal number on screen, and
    the appeal number. Waits on what the screen shows, never on a fixed time.
    """
    keys = Keys()
    started = time.perf_counter()
    type_text(page, call.phone, keys)
    page.wait_for_selector("#caller table, #caller p", timeout=timeout_ms)
    if not page.evaluate("document.activeElement && document.activeElement.id === 'description'"):
        press(page, "Tab", keys)  # a number that is not a complete mobile one: Tab past the type (投诉 preselected)
        press(page, "Tab", keys)  # into the description
    type_text(page, call.description, keys)
    page.wait_for_selector("#suggestions button", timeout=timeout_ms)
    press(page, call.suggestion_key, keys)  # category from the suggestion; the cursor moves to the place field
    type_text(page, call.coordinates, keys)  # the place field takes 经度,纬度 as well as an address
    page.wait_for_selector("#located, #outside", timeout=timeout_ms)
    page.wait_for_selector("#assist h3", timeout=timeout_ms)
    press(page, "F9", keys)
    page.wait_for_selector("#appeal-number", timeout=timeout_ms)
    elapsed = time.perf_counter() - started
    return keys, elapsed, page.inner_text("#appeal-number")
