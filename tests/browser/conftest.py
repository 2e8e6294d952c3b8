"""Browser tests: Debian's Chromium through Playwright, the whole stack as processes, once per module.

Never `playwright install` (it downloads a browser, which fails on these machines): Playwright drives
/usr/bin/chromium by `executable_path`. Without it the tests skip and say how to install it (`make test` does
it as root). Every request that does not go to 127.0.0.1 is aborted, so a page that needs the internet fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support.stack import Stack

CHROMIUM = os.environ.get("MCC_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return (f"no Chromium at {CHROMIUM}: install it with `apt-get install -y --no-install-recommends chromium` "
                "(or run `make test` as root), or point MCC_CHROMIUM at one")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: `make install`"
    return None


@pytest.fixture(scope="module")
def browser():
    """Chromium for one module: Playwright's sync API holds its own event loop while open, so it must be
    closed before the asyncio tests of other tiers run."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield chromium
        chromium.close()


def block_network(context) -> list[str]:  # noqa: ANN001
    """Abort every request that leaves this machine; returns the list of what was blocked."""
    blocked: list[str] = []

    def route(r) -> None:  # noqa: ANN001
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return blocked


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The four services as processes, once per module (starting them costs seconds)."""
    if _skip_reason():
        pytest.skip(_skip_reason())
    running = Stack.start(Path(tmp_path_factory.mktemp("stack")))
    try:
        running.wait_ready(90)
        yield running
    finally:
        running.stop()


def session_cookies(stack: Stack, *, role: str, unit: str, subject: str, name: str) -> list[dict]:
    """The cookies sign-in sets: the signed session token and the CSRF token, for 127.0.0.1 (all ports)."""
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    secret = stack.env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
    token = mint_token(secret, subject=subject, role=role, unit_code=unit, name=name)
    return [{"name": "mcc_session", "value": token, "domain": "127.0.0.1", "path": "/", "httpOnly": True,
             "sameSite": "Lax"},
            {"name": "mcc_csrf", "value": f"csrf-{subject}", "domain": "127.0.0.1", "path": "/", "sameSite": "Lax"}]


def bearer(stack: Stack, *, role: str, unit: str, subject: str = "browser-test") -> dict[str, str]:
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    secret = stack.env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
    return {"Authorization": f"Bearer {mint_token(secret, subject=subject, role=role, unit_code=unit)}"}


def screenshot(page, name: str) -> None:  # noqa: ANN001
    """A console's picture for the docs (docs/img/NAME.png) when MCC_DOCS_SCREENSHOTS=1, so an ordinary test
    run leaves the checkout clean; only where Chinese can be drawn (a CJK font)."""
    import shutil
    import subprocess

    if os.environ.get("MCC_DOCS_SCREENSHOTS") != "1":
        return
    if shutil.which("fc-list") and subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"


def serious_violations(page) -> list[dict]:  # noqa: ANN001
    """axe-core on the page as it is now: violations of serious or critical impact."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:3]]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
