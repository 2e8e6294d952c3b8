"""Every refusal a person may read is written in Chinese (issue 17 item 12): the messages raised as NotFound,
Conflict, Forbidden, Invalid or HTTPException in the services and the shared library start with Chinese text.
An English gloss in parentheses after it is fine (integrators read the stable `code` anyway)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHARED_REFUSALS = {"Problem", "NotFound", "Conflict", "Forbidden", "Invalid", "Unavailable"}
CLASS = re.compile(r"^class (\w+)\(([^)]*)\)", re.M)


def sources() -> list[Path]:
    return [p for p in [*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]
            if "simulator" not in p.parts and "migrations" not in p.parts]


def refusal_classes(roots: set[str] = SHARED_REFUSALS) -> set[str]:
    """`roots` and every class in the code that derives from one of them (OrderNotVisible, LoginTaken, …)."""
    bases = {name: {b.strip().split(".")[-1] for b in found.split(",")}
             for path in sources() for name, found in CLASS.findall(path.read_text())}
    known = set(roots)
    while grown := {name for name, of in bases.items() if name not in known and of & known}:
        known |= grown
    return known


def refusal_pattern() -> re.Pattern[str]:
    # The message argument: NotFound("…"), Invalid("field", "…"), HTTPException(403, detail="…"), _unauthorized("…").
    # Invalid("field", "…") and its kind, and intake's OutOfScope("field", "…"): the message comes second.
    by_field = refusal_classes({"Invalid", "OutOfScope"})
    # Problem itself is never raised bare (and grid's registry has a record of that name for its import report).
    names = "|".join(sorted((refusal_classes() - by_field - {"Problem"}) | {"_unauthorized"}))
    fields = "|".join(sorted(by_field))
    return re.compile(rf"\b(?:{names})\(\s*f?\"(?P<a>[^\"]*)\""
                      rf"|\b(?:{fields})\(\s*\"[^\"]*\",\s*f?\"(?P<b>[^\"]*)\""
                      r"|\bdetail=f?\"(?P<c>[^\"]*)\"")


CJK = re.compile(r"[\u4e00-\u9fff]")


def english_refusals() -> list[str]:
    found, refusal = [], refusal_pattern()
    for path in sources():
        for m in refusal.finditer(path.read_text()):
            message = m.group("a") or m.group("b") or m.group("c") or ""
            head = re.sub(r"\{[^}]*\}", "", message).strip()  # the words around the {placeholders}
            if len(message) > 3 and not CJK.search(head[:12] or message[:12]):
                line = path.read_text()[: m.start()].count("\n") + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {message}")
    return found


def test_the_check_finds_the_refusals_it_reads():
    # An empty list below must mean "all in Chinese", not "nothing found": the subclasses are discovered and a
    # known refusal of each kind is matched.
    assert {"OrderNotVisible", "StaleOrder", "LoginTaken", "AccountRuleBroken", "OutOfScope"} <= refusal_classes()
    messages = [m for path in sources() for m in refusal_pattern().finditer(path.read_text())]
    assert len(messages) > 100
    assert any((m.group("a") or "").startswith("未找到工单") for m in messages)


def test_every_refusal_message_in_the_code_starts_in_chinese():
    assert english_refusals() == []
