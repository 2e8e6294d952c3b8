"""Every refusal a person may read is written in Chinese (issue 17 item 12): the messages raised as NotFound,
Conflict, Forbidden, Invalid or HTTPException in the services and the shared library start with Chinese text.
An English gloss in parentheses after it is fine (integrators read the stable `code` anyway)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
# The message argument: NotFound("…"), Invalid("field", "…"), HTTPException(403, detail="…"), _unauthorized("…").
REFUSAL = re.compile(r"\b(?:NotFound|Conflict|Forbidden|_unauthorized)\(\s*f?\"(?P<a>[^\"]*)\""
                     r"|\bInvalid\(\s*\"[^\"]*\",\s*f?\"(?P<b>[^\"]*)\""
                     r"|\bdetail=f?\"(?P<c>[^\"]*)\"")
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_refusals() -> list[str]:
    found = []
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]:
        if "simulator" in path.parts or "migrations" in path.parts:
            continue
        for m in REFUSAL.finditer(path.read_text()):
            message = m.group("a") or m.group("b") or m.group("c") or ""
            head = message.lstrip("{").split("}")[-1] if message.startswith("{") else message
            if len(message) > 3 and not CJK.search(head[:12] or message[:12]):  # not a "; " separator
                line = path.read_text()[: m.start()].count("\n") + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {message}")
    return found


def test_every_refusal_message_in_the_code_starts_in_chinese():
    assert english_refusals() == []
