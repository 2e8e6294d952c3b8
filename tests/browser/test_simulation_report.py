"""The simulation report opens in Chromium with the network blocked and shows its plots."""

from __future__ import annotations

import functools
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.cli import main
from tests.browser.conftest import block_network

PLOTS = ("arrivals", "backlog", "timing", "escalations", "latency")


def test_the_report_of_a_small_simulated_morning_renders_every_plot_offline(browser, tmp_path: Path) -> None:
    out = tmp_path / "report"
    # Playwright's sync API keeps an event loop running in this thread: the simulation runs in another one
    code = ThreadPoolExecutor(1).submit(main, ["simulate", "--own-stack", "--scenario", "weekday", "--seed", "5", "--rate", "0.05",
                 "--start-hour", "9", "--duration", "0.5", "--tail", "1", "--scale", "720", "--out", str(out)]).result()
    assert code == 0 and (out / "report.html").exists() and (out / "summary.json").exists()

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        blocked = block_network(context)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/report.html")
        assert "城市一日模拟" in page.title()
        assert page.locator(".ok").first.is_visible()  # the checks passed, and the page says so
        for plot in PLOTS:
            svg = page.locator(f'figure[data-plot="{plot}"] svg')
            box = svg.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200, plot
            assert svg.locator("rect, path").count() > 3, plot  # drawn, not an empty frame
        assert blocked == []  # nothing was fetched from outside this machine
    finally:
        context.close()
        server.shutdown()
