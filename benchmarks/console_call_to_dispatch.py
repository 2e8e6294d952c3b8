#!/usr/bin/env python
"""The operator's call, keyboard only, in a real browser: keys per call and seconds from the first key to
the committed appeal and to the committed work order.

The stack starts the way `mcc up` starts it (tests/support/stack.py), Chromium is Debian's (/usr/bin/chromium,
driven by Playwright as in tests/browser). Each call is the scripted call of the browser test
(tests/support/console_driver.py): F2 for a new call, the phone, Tab Tab, the description, Alt+1 for the
first suggested category, Tab, the coordinates, F9. Descriptions come from the labelled set
(benchmarks/data/category_descriptions.tsv, classes without an emergency line), points from the demo city.

Keys are counted in two parts: control keys (Tab, shortcuts, F2, F9) and typed characters of what the caller
says (phone, description, coordinates; a Chinese character counts as one, as if typed by an IME that commits
one keystroke per character, which is optimistic). Target (issue 11): at most 40 keys for a typical call,
median under 5 s of machine time from the first key to the committed order.

    .venv/bin/python benchmarks/console_call_to_dispatch.py [--calls 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.auth import mint_token  # noqa: E402
from shared.categories import CategoryTable  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS, session_cookies  # noqa: E402
from tests.support.console_driver import Call, Keys, take_call  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

# Points inside the demo city's towns (崇川, 通州, 如东, 海安): a point outside the city waits for review, no order.
POINTS = [(120.9, 32.0), (120.95, 32.05), (121.2, 32.3), (120.5, 32.4), (121.1, 32.1)]


def _calls(n: int) -> list[Call]:
    table = CategoryTable.load()
    rows = [r for r in csv.DictReader((ROOT / "benchmarks/data/category_descriptions.tsv").open(encoding="utf-8"),
                                      delimiter="\t")
            if not table.require(r["code"]).emergency_line and not r["code"].startswith("17")]
    step = max(1, len(rows) // n)
    picked = rows[::step][:n]
    return [Call(f"139{i:08d}", r["description"], f"{POINTS[i % len(POINTS)][0]},{POINTS[i % len(POINTS)][1]}")
            for i, r in enumerate(picked)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    var = Path(tempfile.mkdtemp(prefix="mcc-console-bench-"))
    stack = Stack.start(var)
    try:
        stack.wait_ready(120)
        secret = stack.env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
        city = {"Authorization": "Bearer " + mint_token(secret, subject="bench", role="city_dispatcher",
                                                        unit_code="320600")}
        results: list[tuple[Keys, float, float]] = []
        with sync_playwright() as pw, httpx.Client(timeout=10) as client:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            context.add_cookies(session_cookies(stack, role="operator", unit="320600", subject="bench-op",
                                                name="话务员"))
            page = context.new_page()
            page.goto(f"{stack.url('hotline')}/console")
            for i, call in enumerate(_calls(args.calls)):
                first_key = datetime.now(UTC)
                if i:
                    page.keyboard.press("F2")  # a new call: a fresh form, the cursor in the phone field
                page.wait_for_selector("#caller_phone:focus")
                keys, to_appeal, number = take_call(page, call)
                if i:
                    keys.control += 1
                    to_appeal = (datetime.now(UTC) - first_key).total_seconds()
                order = None
                deadline = time.monotonic() + 60
                while order is None and time.monotonic() < deadline:
                    items = client.get(f"{stack.url('dispatch')}/api/v1/orders", headers=city,
                                       params={"source_ref": number, "view": "all"}).json()["items"]
                    order = items[0] if items else None
                    if order is None:
                        time.sleep(0.05)
                if order is None:
                    sys.exit(f"no order for {number} within 60 s")
                to_order = (datetime.fromisoformat(order["created_at"]) - first_key).total_seconds()
                results.append((keys, to_appeal, to_order))
            browser.close()
        keys_total = [k.total for k, _, _ in results]
        control = [k.control for k, _, _ in results]
        appeal_s = [a for _, a, _ in results]
        order_s = [o for _, _, o in results]
        print(f"calls: {len(results)}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"keys per call: median {statistics.median(keys_total):.0f} (control {statistics.median(control):.0f}"
              f" + typed {statistics.median(keys_total) - statistics.median(control):.0f}), "
              f"min {min(keys_total)}, max {max(keys_total)}")
        print(f"first key -> appeal on screen: median {statistics.median(appeal_s):.2f} s, p90 {_pct(appeal_s, 0.9):.2f} s")
        print(f"first key -> order committed:  median {statistics.median(order_s):.2f} s, p90 {_pct(order_s, 0.9):.2f} s")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
