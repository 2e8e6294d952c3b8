"""Account use cases: create, change, reset a password, list within one's reach; sign in and out.

An admin reaches the accounts of their own unit and the units below it; anything else answers exactly like
an account that does not exist. Each change is one AccountChanged event and one account_audit row in the
same transaction; the live sessions of a changed account are ended first (in Redis), so its cookie is not
renewed with the old role or unit, and a disabled person is out within one session token lifetime.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from services.dispatch.adapters import accounts as repository
from services.dispatch.adapters.orm import AccountRow
from services.dispatch.adapters.passwords import hash_password, verify_password
from services.dispatch.adapters.signin_limits import SignInLimiter, SignInLimits
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.accounts import (
    Account,
    AccountRuleBroken,
    check_login,
    check_password,
    check_role_fits_unit,
    may_manage,
)
from services.dispatch.domain.org import OrgTree
from shared import sessions
from shared.auth import Principal
from shared.errors import Conflict, NotFound, Unavailable
from shared.events.catalog import ACCOUNT_CHANGED
from shared.events.envelope import utcnow
from shared.events.v1 import AccountChanged
from shared.roles import Role

SessionEnder = Callable[[str], Awaitable[object]]


class AccountNotFound(NotFound, LookupError):
    """No such account, or not within the caller's reach (the two answer the same: 404)."""


class LoginTaken(Conflict, ValueError):
    """Another account already has this login (409)."""


def session_ender(redis: object) -> SessionEnder:
    """Ends an account's live sessions in Redis; while Redis is away, a 503 to retry (the change is not made)."""

    async def end(account_id: str) -> None:
        try:
            await sessions.close_account_sessions(redis, account_id)
        except (RedisError, OSError) as exc:
            raise Unavailable("会话存储暂时不可用，请稍后重试") from exc

    return end


@dataclass(frozen=True)
class Who:
    """Whoever makes a change: an account (id, display name), a script token, or the command line."""

    id: str
    name: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Who:
        return cls(principal.subject if principal.kind == "session" else f"script:{principal.subject}",
                   principal.name)


@dataclass(frozen=True)
class CreateAccount:
    """An admin's (or the command line's) order to open an account."""

    login: str
    display_name: str
    unit_code: str
    role: Role
    password: str


@dataclass(frozen=True)
class ChangeAccount:
    """An admin's order to rename, move, give a role, disable or enable an account (None: keep as is)."""

    account_id: str
    display_name: str | None = None
    unit_code: str | None = None
    role: Role | None = None
    active: bool | None = None


@dataclass(frozen=True)
class ResetPassword:
    """An admin's order to set a new password on an account."""

    account_id: str
    password: str


def _reachable(row: AccountRow | None, admin: Principal | None, org: OrgTree) -> AccountRow:
    if row is None or (admin is not None and not may_manage(admin.unit_code, row.unit_code, org)):
        raise AccountNotFound("没有这个账号")
    return row


async def _emit(uow: DispatchUnitOfWork, row: AccountRow, *, action: str, who: Who, details: dict[str, object]) -> None:
    data = AccountChanged(account_id=row.id, action=action, login=row.login, display_name=row.display_name,
                          unit_code=row.unit_code, role=row.role, active=row.active, actor=who.id,
                          actor_name=who.name, occurred_at=utcnow())
    await uow.emit(ACCOUNT_CHANGED, data, subject=row.id)
    uow.accounts.audit(action=action, account_id=row.id, login=row.login, actor_id=who.id,
                     actor_name=who.name, details=details)


async def create_account(*, uow: DispatchUnitOfWork, org: OrgTree, admin: Principal | None, who: Who,
                         command: CreateAccount, min_password: int) -> Account:
    """A new active account in the admin's reach (admin None: the command line, anywhere)."""
    login, display_name, unit_code, role, password = (command.login, command.display_name, command.unit_code,
                                                      command.role, command.password)
    check_login(login)
    if admin is not None and not may_manage(admin.unit_code, unit_code, org):
        raise AccountNotFound(f"单位 {unit_code} 不存在")  # above or beside the admin: as if unknown
    check_role_fits_unit(role, unit_code, org)
    check_password(password, min_length=min_password)
    now = utcnow()
    row = AccountRow(id=uuid.uuid4().hex, login=login, display_name=display_name, unit_code=unit_code,
                     role=role.value, active=True, password_hash=await hash_password(password), created_at=now,
                     updated_at=now)
    async with uow:
        if await uow.accounts.by_login(login) is not None:
            raise LoginTaken(f"登录名 {login} 已被使用")
        uow.accounts.add(row)
        await _emit(uow, row, action="created", who=who, details={"unit_code": unit_code, "role": role.value})
        try:
            await uow.commit()
        except IntegrityError as exc:  # the same login created at the same moment
            raise LoginTaken(f"登录名 {login} 已被使用") from exc
    return repository.to_domain(row)


async def change_account(*, uow: DispatchUnitOfWork, org: OrgTree, admin: Principal | None, who: Who,
                         command: ChangeAccount, end_sessions: SessionEnder) -> Account:
    """Rename, move, give a role, disable or enable an account within reach; ends its sessions."""
    account_id, display_name, unit_code, role, active = (command.account_id, command.display_name,
                                                         command.unit_code, command.role, command.active)
    async with uow:
        row = _reachable(await uow.accounts.get(account_id, for_update=True), admin, org)
        changes: dict[str, object] = {}
        new_unit, new_role = unit_code or row.unit_code, role or Role(row.role)
        if unit_code is not None and unit_code != row.unit_code:
            if admin is not None and not may_manage(admin.unit_code, unit_code, org):
                raise AccountRuleBroken("unit_code", f"单位 {unit_code} 不存在")
            changes["unit_code"] = [row.unit_code, unit_code]
        if role is not None and role.value != row.role:
            changes["role"] = [row.role, role.value]
        if changes:
            check_role_fits_unit(new_role, new_unit, org)
        if display_name is not None and display_name != row.display_name:
            changes["display_name"] = [row.display_name, display_name]
        if active is not None and active != row.active:
            if admin is not None and not active and row.id == admin.subject:
                raise AccountRuleBroken("active", "不能停用自己的账号")
            changes["active"] = [row.active, active]
        if not changes:
            return repository.to_domain(row)
        await end_sessions(row.id)  # before the commit: if Redis is down, nothing changes and the caller retries
        now = utcnow()
        row.unit_code, row.role, row.updated_at = new_unit, new_role.value, now
        row.display_name = display_name if display_name is not None else row.display_name
        if "active" in changes:
            row.active = bool(active)
            row.disabled_at = None if active else now
        await _emit(uow, row, action=_action(changes), who=who, details={"changes": changes})
        await uow.commit()
    return repository.to_domain(row)


def _action(changes: dict[str, object]) -> str:
    if "active" in changes:
        return "enabled" if changes["active"] == [False, True] else "disabled"
    names = {"unit_code": "moved", "role": "role_changed", "display_name": "renamed"}
    return names[next(iter(changes))] if len(changes) == 1 else "changed"


async def reset_password(*, uow: DispatchUnitOfWork, org: OrgTree, admin: Principal | None, who: Who,
                         command: ResetPassword, min_password: int, end_sessions: SessionEnder) -> Account:
    """Set a new password on an account within reach; ends its sessions."""
    account_id, password = command.account_id, command.password
    check_password(password, min_length=min_password)
    digest = await hash_password(password)
    async with uow:
        row = _reachable(await uow.accounts.get(account_id, for_update=True), admin, org)
        await end_sessions(row.id)
        row.password_hash, row.updated_at = digest, utcnow()
        await _emit(uow, row, action="password_reset", who=who, details={})
        await uow.commit()
    return repository.to_domain(row)


async def read_account(*, uow: DispatchUnitOfWork, org: OrgTree, admin: Principal | None, account_id: str) -> Account:
    """One account within reach."""
    async with uow:
        return repository.to_domain(_reachable(await uow.accounts.get(account_id),
                                               admin, org))


async def list_accounts(*, uow: DispatchUnitOfWork, org: OrgTree, admin: Principal, active: bool | None = None,
                        limit: int = 500, offset: int = 0) -> list[Account]:
    """The accounts of the admin's unit and the units below it."""
    units = [u.code for u in org if org.is_within(u.code, admin.unit_code)]
    async with uow:
        rows = await uow.accounts.within(unit_codes=units, active=active, limit=limit, offset=offset)
    return [repository.to_domain(r) for r in rows]


async def authenticate(*, uow: DispatchUnitOfWork, login: str, password: str, address: str | None) -> Account | None:
    """The active account these credentials name, or None; either way an audit row says what happened."""
    async with uow:
        row = await uow.accounts.by_login(login)
        good = await verify_password(row.password_hash if row is not None else None, password)
        ok = good and row is not None and row.active
        # An unknown login is recorded without the text typed: people type passwords into the login field.
        uow.accounts.audit(action="sign_in" if ok else "sign_in_failed",
                         account_id=row.id if row is not None else None,
                         login=row.login if row is not None else None,
                         actor_id=row.id if row is not None else None,
                         actor_name=row.display_name if row is not None else None, address=address,
                         details={} if ok else {"reason": "inactive" if good else "bad_credentials"})
        await uow.commit()
    return repository.to_domain(row) if ok and row is not None else None


@dataclass(frozen=True)
class SignInAttempt:
    """What came of a sign-in: the account, or the seconds of a lock (0: just wrong)."""

    account: Account | None
    locked_s: int = 0


def limiter(redis: object, *, max_failures: int, address_max_failures: int, lock_s: int) -> SignInLimiter:
    """The failed-sign-in counters in Redis."""
    return SignInLimiter(redis, SignInLimits(max_failures, address_max_failures, lock_s))


async def sign_in(*, uow: DispatchUnitOfWork, limits: SignInLimiter, login: str, password: str,
                  address: str | None) -> SignInAttempt:
    """Check a lock, then the credentials; count a failure or clear the count. Redis errors propagate."""
    locked = await limits.locked_for(login=login, address=address)
    if locked:
        return SignInAttempt(None, locked)
    account = await authenticate(uow=uow, login=login, password=password, address=address)
    if account is None:
        return SignInAttempt(None, await limits.failed(login=login, address=address))
    await limits.succeeded(login=login)
    return SignInAttempt(account)


async def record_sign_out(*, uow: DispatchUnitOfWork, principal: Principal, address: str | None) -> None:
    """An audit row for a sign-out."""
    async with uow:
        uow.accounts.audit(action="sign_out", account_id=principal.subject, login=None,
                         actor_id=principal.subject, actor_name=principal.name, address=address)
        await uow.commit()


async def account_active(*, uow: DispatchUnitOfWork, account_id: str) -> bool:
    """Whether the account exists and is active (sessions are renewed only then)."""
    async with uow:
        row = await uow.accounts.get(account_id)
    return row is not None and row.active
