"""The consoles' pages answer a refusal inside the page they render (HTML, with the reason in Chinese), where
the API answers its JSON problem: one catching place for pages (shared.web.or_refusal)."""

from __future__ import annotations

from tests.support.accounts import add_account, browser, sign_in
from tests.support.dispatch import CITY, TZ_TOWN_A, accepted_incident


def _csrf(client) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get("mcc_csrf")}


async def test_the_account_page_shows_a_refused_form_again_with_its_reason(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="root", role="admin", unit=CITY)
        async with browser(d.app) as c:
            await sign_in(c, "root")
            refused = await c.post("/admin/accounts", headers=_csrf(c), data={
                "login": "town.li", "display_name": "", "unit_code": TZ_TOWN_A, "role": "town_dispatcher",
                "password": "a-long-enough-password"})
            assert refused.status_code == 422 and "text/html" in refused.headers["content-type"]
            assert "姓名须为 1–100 个字符" in refused.text and 'value="town.li"' in refused.text  # the form kept


async def test_the_board_shows_a_refused_action_in_the_order_and_reads_a_half_typed_date_as_none(start_dispatch):
    async with start_dispatch() as d:
        order = await d.incident(accepted_incident())
        await add_account(d, login="town.wu", role="town_dispatcher", unit=TZ_TOWN_A)
        async with browser(d.app) as c:
            await sign_in(c, "town.wu")
            queue = await c.get("/board/queue", params={"since": "2026-1", "until": ""})
            assert queue.status_code == 200 and order["number"] in queue.text
            refused = await c.post(f"/board/orders/{order['number']}/actions/close", headers=_csrf(c),
                                   data={"result": "已处理"})
            assert refused.status_code == 409 and "text/html" in refused.headers["content-type"]
            assert order["number"] in refused.text  # the order re-rendered, with the refusal in it
            assert "不能执行 close" in refused.text  # why, in Chinese
            missing = await c.post("/board/orders/NO-SUCH-ORDER/actions/sign", headers=_csrf(c), data={})
            assert missing.status_code == 404 and "工单不存在或不在您的辖区" in missing.text


async def test_the_city_view_shows_a_refused_supervision_above_the_picture(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="city.zhao", role="city_dispatcher", unit=CITY)
        async with browser(d.app) as c:
            await sign_in(c, "city.zhao")
            refused = await c.post("/city/supervise/NO-SUCH-ORDER", headers=_csrf(c))
            assert refused.status_code == 409 and "text/html" in refused.headers["content-type"]
            assert "未找到工单 NO-SUCH-ORDER" in refused.text  # in Chinese, above the refreshed picture
