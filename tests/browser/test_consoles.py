"""The consoles in a real browser, keyboard only: a call taken, dispatched, signed, returned and arbitrated,
and the city's map showing the town's backlog; each console screenshotted for the docs and checked by axe."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import bearer, block_network, screenshot, serious_violations, session_cookies
from tests.support.console_driver import Call
from tests.support.polling import eventually_sync

POINT = (120.9, 32.0)  # in 文峰街道, 崇川区 (downtown Nantong)
PHONE = "13912345678"


@pytest.fixture(scope="module")
def area(stack) -> dict[str, str]:  # noqa: ANN001
    found = httpx.get(f"{stack.url('grid')}/api/v1/lookup", params={"lon": POINT[0], "lat": POINT[1]}).json()
    return {"town": found["town_code"], "county": found["county_code"]}


def _order_of(stack, appeal_number: str) -> dict:  # noqa: ANN001
    """The work order made from an appeal, once dispatch has it (polled, never slept for)."""
    headers = bearer(stack, role="city_dispatcher", unit="320600")

    def found() -> dict | None:
        page = httpx.get(f"{stack.url('dispatch')}/api/v1/orders", params={"source_ref": appeal_number, "view": "all"},
                         headers=headers).json()
        return page["items"][0] if page["items"] else None

    return eventually_sync(found, timeout=90, interval=0.2, message=f"no order for {appeal_number}")


def _appeal(stack, description: str, *, phone: str = PHONE) -> dict:  # noqa: ANN001
    answer = httpx.post(f"{stack.url('hotline')}/api/v1/appeals", headers=bearer(stack, role="operator", unit="320600"),
                        json={"caller_phone": phone, "appeal_type": "投诉", "category_code": "020101",
                              "description": description, "coordinates": {"lon": POINT[0], "lat": POINT[1]}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _context(browser, stack, *, role: str, unit: str, name: str):  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    block_network(context)
    context.add_cookies(session_cookies(stack, role=role, unit=unit, subject=f"{role}-1", name=name))
    return context


def _select(page, number: str) -> None:  # noqa: ANN001
    """Press j or k until the detail shows the order (the queue is sorted by deadline, not by arrival)."""
    for _ in range(60):
        ids = page.eval_on_selector_all("#queue tr[data-id]", "rows => rows.map(r => r.dataset.id)")
        current = page.evaluate("(document.querySelector('#queue tr.sel') || {dataset: {}}).dataset.id || null")
        if current == number and number in (page.text_content("#detail-number") or ""):
            return
        here = ids.index(current) if current in ids else -1
        page.keyboard.press("j" if number not in ids or ids.index(number) > here else "k")
        chosen = page.evaluate("document.querySelector('#queue tr.sel').dataset.id")
        page.wait_for_function("n => (document.querySelector('#detail-number') || {}).textContent?.includes(n)",
                               arg=chosen)
    raise AssertionError(f"order {number} never selected on the board")


def test_a_call_typed_by_keyboard_reaches_the_town_board_is_signed_and_a_return_is_arbitrated(
        browser, stack, area) -> None:  # noqa: ANN001
    earlier = _appeal(stack, "小区门口的生活垃圾两天没人清运")
    other = _appeal(stack, "菜场后面垃圾堆满了没人运走", phone="13700001111")
    _order_of(stack, earlier["number"])
    other_order = _order_of(stack, other["number"])

    town = _context(browser, stack, role="town_dispatcher", unit=area["town"], name="文峰街道派单员")
    board = town.new_page()
    board.goto(f"{stack.url('dispatch')}/board")
    board.wait_for_selector("#queue tr[data-href]")
    board.evaluate("window.__notReloaded = true")

    operator = _context(browser, stack, role="operator", unit="320600", name="话务员王")
    console = operator.new_page()
    console.goto(f"{stack.url('hotline')}/console")
    console.wait_for_selector("#caller_phone:focus")
    call = Call(PHONE, "小区东门的生活垃圾三天没人清运，味道很大", f"{POINT[0]},{POINT[1]}")
    # Before submitting: the caller's history, a suggested category and a duplicate candidate are on screen.
    console.keyboard.type(call.phone)
    console.wait_for_selector(f"#caller >> text={earlier['number']}")
    console.wait_for_selector("#description:focus")  # a complete mobile number moves the cursor on by itself
    console.keyboard.type(call.description)
    console.wait_for_selector("#suggestions >> text=020101")
    console.keyboard.press("Alt+1")
    assert console.input_value("#category_code") == "020101"
    console.keyboard.type(call.coordinates)  # into the place field, which takes 经度,纬度 as well as an address
    console.wait_for_selector("#located >> text=文峰街道")
    console.wait_for_selector(f"#duplicates >> text={earlier['order_number'] or _order_of(stack, earlier['number'])['number']}")
    screenshot(console, "console-operator")
    console.keyboard.press("F9")
    console.wait_for_selector("#appeal-number")
    number = console.inner_text("#appeal-number")
    assert "已受理" in console.inner_text("#next-step")
    order = _order_of(stack, number)

    # The town's board shows the new order without a reload, and one key signs it.
    board.wait_for_selector(f"#queue tr[data-id='{order['number']}']", timeout=60_000)
    assert board.evaluate("window.__notReloaded") is True
    _select(board, order["number"])
    board.keyboard.press("s")
    board.wait_for_selector("#detail >> text=已签收：工单")
    screenshot(board, "console-board")

    # The town returns another order with a reason; the county approves the return.
    _select(board, other_order["number"])
    board.keyboard.press("r")
    board.wait_for_selector("#return-reason:focus")
    board.keyboard.type("不属本镇辖区，应由交通部门处理")
    board.keyboard.press("Enter")
    board.wait_for_selector("#detail >> text=已退单")

    county = _context(browser, stack, role="county_dispatcher", unit=area["county"], name="启东市指挥中心")
    arbiter = county.new_page()
    arbiter.goto(f"{stack.url('dispatch')}/board")
    arbiter.wait_for_selector(f"#queue tr[data-id='{other_order['number']}']")
    _select(arbiter, other_order["number"])
    arbiter.wait_for_selector("#actions >> text=同意退单")
    arbiter.keyboard.press("a")
    arbiter.wait_for_selector("#detail >> text=已同意退单")
    history = httpx.get(f"{stack.url('dispatch')}/api/v1/orders/{other_order['number']}/history",
                        headers=bearer(stack, role="city_dispatcher", unit="320600")).json()
    assert [h["action"] for h in history["history"]][-2:] == ["return", "approve_return"]
    assert history["state"] == "queued"
    # Now in the county's own queue (属地兜底): one key to route it to a unit, the first offered.
    arbiter.wait_for_selector("#actions >> text=派单")
    arbiter.keyboard.press("g")
    arbiter.wait_for_selector("#route-to:focus")
    arbiter.keyboard.press("Tab")
    arbiter.keyboard.press("Enter")
    arbiter.wait_for_selector("#detail >> text=已派单：工单")
    routed = httpx.get(f"{stack.url('dispatch')}/api/v1/orders/{other_order['number']}",
                       headers=bearer(stack, role="city_dispatcher", unit="320600")).json()
    assert routed["state"] == "dispatched"

    # The city's map shows the town's backlog: its open orders, as the API counts them.
    open_in_town = httpx.get(f"{stack.url('dispatch')}/api/v1/orders", params={"town": area["town"], "view": "open"},
                             headers=bearer(stack, role="city_dispatcher", unit="320600")).json()["total"]
    city = _context(browser, stack, role="city_dispatcher", unit="320600", name="市指挥中心")
    view = city.new_page()
    view.goto(f"{stack.url('dispatch')}/city")
    shape = view.wait_for_selector(f"#city-map polygon[data-town='{area['town']}']")
    assert int(shape.get_attribute("data-open")) == open_in_town >= 2
    screenshot(view, "console-city")
    for context in (town, operator, county, city):
        context.close()


@pytest.mark.parametrize(("service", "path", "role"), [
    ("hotline", "/console", "operator"), ("hotline", "/console/followups", "operator"),
    ("dispatch", "/board", "town_dispatcher"), ("dispatch", "/city", "city_dispatcher")])
def test_each_console_has_no_serious_or_critical_accessibility_violation(browser, stack, area, service: str,
                                                                         path: str, role: str) -> None:
    unit = area["town"] if role == "town_dispatcher" else "320600"
    context = _context(browser, stack, role=role, unit=unit, name="无障碍检查")
    page = context.new_page()
    try:
        page.goto(f"{stack.url(service)}{path}")
        page.wait_for_load_state("networkidle")
        assert serious_violations(page) == []
    finally:
        context.close()


def test_a_page_without_a_session_sends_the_browser_to_sign_in(stack) -> None:  # noqa: ANN001
    answer = httpx.get(f"{stack.url('hotline')}/console", follow_redirects=False)
    assert answer.status_code == 303
    assert "/signin?next=" in answer.headers["location"]


def test_a_console_post_without_the_csrf_token_is_refused(stack) -> None:  # noqa: ANN001
    cookies = {c["name"]: c["value"] for c in session_cookies(stack, role="operator", unit="320600", subject="csrf",
                                                            name="x")}
    answer = httpx.post(f"{stack.url('hotline')}/console/assist", data={"description": "路灯不亮"}, cookies=cookies)
    assert answer.status_code == 403
    answer = httpx.post(f"{stack.url('hotline')}/console/assist", data={"description": "路灯不亮"}, cookies=cookies,
                        headers={"X-CSRF-Token": cookies["mcc_csrf"]})
    assert answer.status_code == 200 and "010201" in answer.text


def test_the_accessibility_check_finds_a_field_without_a_label(browser) -> None:  # noqa: ANN001
    """The axe check above can fail: a form field without a label is a critical violation."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content('<html lang="zh-CN"><head><title>t</title></head><body><main><input type="text"></main></body></html>')
        assert [v["id"] for v in serious_violations(page)] == ["label"]
    finally:
        context.close()


@pytest.mark.parametrize(("role", "service", "path"), [
    ("operator", "hotline", "/console"), ("town_dispatcher", "dispatch", "/board"),
    ("city_dispatcher", "dispatch", "/city")])
def test_the_root_of_a_service_sends_a_person_to_their_console(stack, role: str, service: str, path: str) -> None:  # noqa: ANN001
    cookies = {c["name"]: c["value"] for c in session_cookies(stack, role=role, unit="320600", subject="home",
                                                            name="x")}
    answer = httpx.get(f"{stack.url('dispatch')}/", cookies=cookies, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{stack.url(service)}{path}"
