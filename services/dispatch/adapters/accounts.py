"""Accounts between the database and the domain: the SQL for reading, listing and auditing them."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import AccountAudit, AccountRow
from services.dispatch.domain.accounts import Account
from shared.events.envelope import utcnow
from shared.roles import Role
from shared.uow import UnitOfWork


def to_domain(row: AccountRow) -> Account:
    """The account a row holds (without its password hash)."""
    return Account(row.id, row.login, row.display_name, row.unit_code, Role(row.role), row.active,
                   row.created_at, row.disabled_at)


async def get(session: AsyncSession, *, account_id: str, for_update: bool = False) -> AccountRow | None:
    query = select(AccountRow).where(AccountRow.id == account_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def by_login(session: AsyncSession, *, login: str) -> AccountRow | None:
    return (await session.execute(select(AccountRow).where(AccountRow.login == login))).scalar_one_or_none()


async def within(session: AsyncSession, *, unit_codes: Collection[str] | None, active: bool | None = None,
                 limit: int = 500, offset: int = 0) -> list[AccountRow]:
    """Accounts in these units (None: every unit), by login."""
    query = select(AccountRow)
    if unit_codes is not None:
        query = query.where(AccountRow.unit_code.in_(list(unit_codes)))
    if active is not None:
        query = query.where(AccountRow.active.is_(active))
    query = query.order_by(AccountRow.login).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def count(session: AsyncSession) -> int:
    from sqlalchemy import func

    return (await session.execute(select(func.count()).select_from(AccountRow))).scalar_one()


def audit(uow: UnitOfWork, *, action: str, account_id: str | None, login: str | None, actor_id: str | None,
          actor_name: str | None, address: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Stage one account audit row, written with the transaction."""
    uow.stage(AccountAudit.__table__, {"action": action, "account_id": account_id, "login": login,
                                       "actor_id": actor_id, "actor_name": actor_name, "address": address,
                                       "details": details or {}, "at": utcnow()})


async def audit_trail(session: AsyncSession, *, account_id: str | None = None, limit: int = 200) -> list[AccountAudit]:
    query = select(AccountAudit)
    if account_id is not None:
        query = query.where(AccountAudit.account_id == account_id)
    query = query.order_by(AccountAudit.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


class AccountRepository:
    """Accounts and their audit trail (`uow.accounts`)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def get(self, account_id: str, *, for_update: bool = False) -> AccountRow | None:
        return await get(self.uow.session, account_id=account_id, for_update=for_update)

    async def by_login(self, login: str) -> AccountRow | None:
        return await by_login(self.uow.session, login=login)

    async def within(self, *, unit_codes: Collection[str] | None, active: bool | None = None, limit: int = 500,
                     offset: int = 0) -> list[AccountRow]:
        return await within(self.uow.session, unit_codes=unit_codes, active=active, limit=limit, offset=offset)

    def add(self, row: AccountRow) -> None:
        """A new account, inserted at commit (a login taken meanwhile fails the commit)."""
        self.uow.session.add(row)

    def audit(self, *, action: str, account_id: str | None, login: str | None, actor_id: str | None,
              actor_name: str | None, address: str | None = None, details: dict[str, Any] | None = None) -> None:
        audit(self.uow, action=action, account_id=account_id, login=login, actor_id=actor_id, actor_name=actor_name,
              address=address, details=details)
