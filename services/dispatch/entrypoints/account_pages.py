"""The account administration page (账号管理): the same use cases as the API, as plain HTML forms.

Forms carry the `csrf_token` field (the session middleware checks it); a person who is not signed in is
sent to the sign-in page and back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.dispatch.domain.accounts import ROLE_NAMES, ROLE_UNIT_KINDS, AccountRuleBroken
from services.dispatch.entrypoints.accounts import end_sessions_for, org
from services.dispatch.service import accounts as service
from shared import sessions
from shared.auth import Principal
from shared.roles import Role
from shared.web import or_refusal, render
from shared.web.session import page_principal

router = APIRouter(include_in_schema=False)
DONE = {"created": "账号已创建。", "saved": "已保存；该账号需重新登录。", "disabled": "账号已停用，其会话即刻不再续期。",
        "enabled": "账号已启用。", "password": "密码已重置；该账号需重新登录。"}
ACCOUNT_KINDS = frozenset().union(*ROLE_UNIT_KINDS.values())


def _admin(request: Request) -> Principal:
    """The signed-in admin (the console pages' door: others are sent to sign in, or refused with 403)."""
    return page_principal(request, (Role.ADMIN,))


AdminPage = Annotated[Principal, Depends(_admin)]


async def _page(request: Request, admin: Principal, *, message: str = "", bad: bool = False,
                form: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    tree = org(request)
    accounts = await service.list_accounts(uow=request.app.state.runtime.uow(), org=tree, admin=admin)
    units = [u for u in tree if u.kind in ACCOUNT_KINDS and tree.is_within(u.code, admin.unit_code)]
    home = tree.get(admin.unit_code)
    return render(request, "accounts/admin.html", status_code=status_code, accounts=accounts, units=units,
                  unit_names={u.code: u.name for u in tree}, unit_name=home.name if home else admin.unit_code,
                  roles=[(r.value, ROLE_NAMES[r]) for r in Role], csrf=sessions.csrf_token(request),
                  min_password=request.app.state.settings.password_min_length, message=message, bad=bad,
                  form=form or {})


@router.get("/admin/accounts", response_class=HTMLResponse)
async def accounts_page(request: Request, admin: AdminPage, done: str = "") -> Response:
    return await _page(request, admin, message=DONE.get(done, ""))


@router.post("/admin/accounts")
async def create_from_page(request: Request, admin: AdminPage, login: Annotated[str, Form()] = "",
                           display_name: Annotated[str, Form()] = "", unit_code: Annotated[str, Form()] = "",
                           role: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> Response:
    form = {"login": login.strip().lower(), "display_name": display_name.strip(), "unit_code": unit_code.strip(),
            "role": role}
    async def create() -> None:
        if not form["display_name"] or len(form["display_name"]) > 100:
            raise AccountRuleBroken("display_name", "姓名须为 1–100 个字符")
        await service.create_account(
            uow=request.app.state.runtime.uow(), org=org(request), admin=admin, who=service.Who.of(admin),
            command=service.CreateAccount(login=form["login"], display_name=form["display_name"],
                                          unit_code=form["unit_code"], role=_role(role), password=password),
            min_password=request.app.state.settings.password_min_length)

    _, refusal = await or_refusal(create(), AccountRuleBroken, service.AccountNotFound, service.LoginTaken)
    if refusal is not None:  # a form: shown again with why
        return await _page(request, admin, message=str(refusal), bad=True, form=form, status_code=422)
    return RedirectResponse("/admin/accounts?done=created", status_code=303)


@router.post("/admin/accounts/{account_id}")
async def change_from_page(request: Request, account_id: str, admin: AdminPage, op: Annotated[str, Form()] = "save",
                           unit_code: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "") -> Response:
    changes: dict[str, Any] = {"active": op == "enable"} if op in ("enable", "disable") else {
        "unit_code": unit_code.strip() or None, "role": _role(role) if role else None}
    _, refusal = await or_refusal(service.change_account(
        uow=request.app.state.runtime.uow(), org=org(request), admin=admin, who=service.Who.of(admin),
        command=service.ChangeAccount(account_id=account_id, **changes), end_sessions=end_sessions_for(request)),
        AccountRuleBroken)
    if refusal is not None:  # a form: the page is shown again with why
        return await _page(request, admin, message=str(refusal), bad=True, status_code=422)
    done = {"enable": "enabled", "disable": "disabled"}.get(op, "saved")
    return RedirectResponse(f"/admin/accounts?done={done}", status_code=303)


@router.post("/admin/accounts/{account_id}/password")
async def password_from_page(request: Request, account_id: str, admin: AdminPage, password: Annotated[str, Form()] = "") -> Response:
    _, refusal = await or_refusal(service.reset_password(
        uow=request.app.state.runtime.uow(), org=org(request), admin=admin, who=service.Who.of(admin),
        command=service.ResetPassword(account_id=account_id, password=password),
        min_password=request.app.state.settings.password_min_length, end_sessions=end_sessions_for(request)),
        AccountRuleBroken)
    if refusal is not None:  # a form: the page is shown again with why
        return await _page(request, admin, message=str(refusal), bad=True, status_code=422)
    return RedirectResponse("/admin/accounts?done=password", status_code=303)


def _role(value: str) -> Role:
    if value not in {r.value for r in Role}:
        raise AccountRuleBroken("role", f"没有角色 {value}")
    return Role(value)
