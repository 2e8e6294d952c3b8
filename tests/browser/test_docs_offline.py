"""Every service's API documentation renders on a machine without internet."""

from __future__ import annotations

import pytest

from services.cli import SERVICES
from tests.browser.conftest import block_network


@pytest.mark.parametrize("service", SERVICES)
def test_docs_render_with_the_network_blocked(browser, stack, service: str) -> None:
    context = browser.new_context()
    blocked = block_network(context)
    page = context.new_page()
    try:
        page.goto(f"{stack.url(service)}/docs")
        # Swagger UI draws the operations from /openapi.json; the title and an operation block mean it ran.
        page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
        page.wait_for_selector(".opblock", timeout=60_000)
        assert "mcc" in page.inner_text(".swagger-ui .info .title")
        assert blocked == [], f"/docs of {service} asked the internet for {blocked}"
    finally:
        context.close()
