"""Accounts API: an admin manages the accounts of their own unit and below; anyone signed in reads themselves.

An account outside the admin's reach answers 404 exactly like one that does not exist. Passwords go in,
never out: no response, log line or event carries one. Refusals (404, 409 login taken, 422 naming the field,
503 while the session store is away) are raised by the account use cases and answered by shared/http.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch.domain.accounts import Account
from services.dispatch.service import accounts as service
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.deps import UowDep
from shared.roles import Role

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Admin = Annotated[Principal, require_roles(Role.ADMIN)]


class AccountPublic(BaseModel):
    id: str
    login: str
    display_name: str
    unit_code: str
    role: Role
    active: bool
    created_at: datetime
    disabled_at: datetime | None = None


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: str = Field(min_length=3, max_length=64, description="3–64 lower-case letters, digits, . _ -")
    display_name: str = Field(min_length=1, max_length=100)
    unit_code: str = Field(min_length=1, max_length=64)
    role: Role
    password: str = Field(max_length=256, description="at least MCC_DISPATCH_PASSWORD_MIN_LENGTH characters")


class AccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, min_length=1, max_length=100)
    unit_code: str | None = Field(None, min_length=1, max_length=64)
    role: Role | None = None
    active: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=256)


def public(account: Account) -> dict[str, Any]:
    return AccountPublic(**{k: getattr(account, k) for k in AccountPublic.model_fields}).model_dump(mode="json")


def end_sessions_for(request: Request) -> service.SessionEnder:
    return service.session_ender(request.app.state.runtime.redis)


def org(request: Request):  # noqa: ANN201 - the current OrgTree
    return request.app.state.policy.policy.org


@router.get("/me", summary="who is signed in (a script token answers with its claims)")
async def me(request: Request, uow: UowDep, principal: CurrentPrincipal) -> Any:
    if principal.kind != "session":
        return {"subject": principal.subject, "role": principal.role.value, "unit_code": principal.unit_code,
                "kind": principal.kind}
    return public(await service.read_account(uow=uow, org=org(request), admin=None, account_id=principal.subject))


@router.get("/accounts", response_model=list[AccountPublic], summary="accounts of my unit and below")
async def list_accounts(request: Request, uow: UowDep, principal: Admin, active: bool | None = None,
                        limit: int = Query(500, ge=1, le=2000), offset: int = Query(0, ge=0, le=10**9)) -> Any:
    accounts = await service.list_accounts(uow=uow, org=org(request), admin=principal, active=active, limit=limit,
                                           offset=offset)
    return [public(a) for a in accounts]


@router.post("/accounts", status_code=201, response_model=AccountPublic, summary="create an account",
             responses={409: {"description": "the login is taken"}})
async def create_account(request: Request, body: AccountIn, uow: UowDep, principal: Admin) -> Any:
    account = await service.create_account(
        uow=uow, org=org(request), admin=principal, who=service.Who.of(principal),
        command=service.CreateAccount(login=body.login, display_name=body.display_name, unit_code=body.unit_code,
                                      role=body.role, password=body.password),
        min_password=request.app.state.settings.password_min_length)
    return public(account)


@router.get("/accounts/{account_id}", response_model=AccountPublic, summary="one account within reach")
async def read_account(request: Request, account_id: str, uow: UowDep, principal: Admin) -> Any:
    return public(await service.read_account(uow=uow, org=org(request), admin=principal, account_id=account_id))


@router.patch("/accounts/{account_id}", response_model=AccountPublic,
              summary="rename, move, change role, disable or enable (ends the account's sessions)")
async def change_account(request: Request, account_id: str, body: AccountChange, uow: UowDep,
                         principal: Admin) -> Any:
    account = await service.change_account(
        uow=uow, org=org(request), admin=principal, who=service.Who.of(principal),
        command=service.ChangeAccount(account_id=account_id, display_name=body.display_name,
                                      unit_code=body.unit_code, role=body.role, active=body.active),
        end_sessions=end_sessions_for(request))
    return public(account)


@router.post("/accounts/{account_id}/password", response_model=AccountPublic,
             summary="set a new password (ends the account's sessions)")
async def reset_password(request: Request, account_id: str, body: PasswordIn, uow: UowDep, principal: Admin) -> Any:
    account = await service.reset_password(
        uow=uow, org=org(request), admin=principal, who=service.Who.of(principal),
        command=service.ResetPassword(account_id=account_id, password=body.password),
        min_password=request.app.state.settings.password_min_length, end_sessions=end_sessions_for(request))
    return public(account)
