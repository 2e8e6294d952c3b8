"""`mcc user`: accounts from the command line (the first admin on a fresh install), and `mcc up`'s demo accounts.

Works straight on dispatch's database (MCC_DISPATCH_DATABASE_URL), through the same use cases as the API,
so the change is audited and announced (its event waits in the outbox until dispatch publishes it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

# login, role, unit, display name: one person per console, in the demo city. The town and county are where the
# README's quick-start appeal (downtown Nantong) goes, so its order shows on their boards.
DEMO_ACCOUNTS = (
    ("demo.operator", "operator", "320600", "话务员小周"),
    ("demo.town", "town_dispatcher", "320613101", "和平桥街道派单员小王"),
    ("demo.county", "county_dispatcher", "320613", "崇川区派单员老李"),
    ("demo.city", "city_dispatcher", "320600", "市指挥中心值班长"),
    ("demo.admin", "admin", "320600", "系统管理员"),
)


def register(sub: Any) -> None:
    """Add `mcc user ...` to the command line."""
    from shared.roles import Role

    user = sub.add_parser("user", help="manage sign-in accounts (the first admin, resets)")
    actions = user.add_subparsers(dest="user_action", required=True)
    add = actions.add_parser("add", help="create an account")
    add.add_argument("--login", required=True)
    add.add_argument("--unit", required=True, help="unit code, e.g. 320600 for the city")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", default=None, help="display name (default: the login)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    listing = actions.add_parser("list", help="list accounts")
    listing.set_defaults(func=cmd_user_list)


class _Dispatch:
    """Dispatch's database, org tree and a unit of work, for one command."""

    def __init__(self, database_url: str | None = None) -> None:
        from services.dispatch.adapters.orm import metadata
        from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
        from services.dispatch.config import DispatchSettings
        from shared.db import create_engine, session_factory
        from shared.outbox import Outbox

        self.settings = DispatchSettings(**({"database_url": database_url} if database_url else {}))
        self.engine = create_engine(self.settings.database_url)
        sessions = session_factory(self.engine)
        outbox = Outbox(metadata.tables["outbox"], source="/mcc/dispatch")
        self.uow = lambda: DispatchUnitOfWork(sessions, outbox, metadata.tables["processed_event"])

    async def org(self) -> Any:
        from services.dispatch.adapters import reference
        from services.dispatch.domain.org import OrgTree
        from services.dispatch.service import handlers
        from shared.migrations import upgrade

        await upgrade("dispatch", self.settings.database_url)
        org, _ = await handlers.load_org(uow=self.uow())
        return org or OrgTree.from_units(reference.initial_units(self.settings))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码: ")
    if first != getpass.getpass("再输入一次: "):
        raise SystemExit("两次输入的密码不一致")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create an account anywhere in the tree (no admin scope: this is the operator of the machine)."""
    from services.dispatch.domain.accounts import AccountRuleBroken
    from services.dispatch.service import accounts as service
    from shared.roles import Role

    password = _read_password(args)

    async def run() -> int:
        db = _Dispatch()
        try:
            account = await service.create_account(
                uow=db.uow(), org=await db.org(), admin=None, who=service.Who(f"cli:{getpass.getuser()}"),
                command=service.CreateAccount(login=args.login, display_name=args.name or args.login,
                                              unit_code=args.unit, role=Role(args.role), password=password),
                min_password=db.settings.password_min_length)
        except (AccountRuleBroken, service.LoginTaken) as exc:
            print(f"mcc user add: {exc}", file=sys.stderr)
            return 1
        finally:
            await db.engine.dispose()
        print(f"account {account.login} ({account.role.value}, unit {account.unit_code}) created: id {account.id}")
        return 0

    return asyncio.run(run())


def cmd_user_list(args: argparse.Namespace) -> int:

    async def run() -> int:
        db = _Dispatch()
        try:
            await db.org()
            async with db.uow() as uow:
                rows = await uow.accounts.within(unit_codes=None, limit=100_000)
        finally:
            await db.engine.dispose()
        for r in rows:
            print(f"{r.login:<24} {r.role:<18} {r.unit_code:<12} {'active' if r.active else 'disabled':<9} "
                  f"{r.display_name}")
        return 0

    return asyncio.run(run())


def ensure_demo_accounts(var: Path, database_url: str) -> list[tuple[str, str, str, str]]:
    """The demo accounts with their passwords: made (or their passwords reset) on first use, kept in
    var/demo-accounts.json (readable by this user only) so every `mcc up` prints the same ones."""
    from services.dispatch.service import accounts as service
    from shared.roles import Role

    store = var / "demo-accounts.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}

    async def run() -> list[tuple[str, str, str, str]]:
        db = _Dispatch(database_url)
        who = service.Who("cli:mcc-up", "mcc up")
        out = []
        try:
            org = await db.org()
            for login, role, unit, name in DEMO_ACCOUNTS:
                password = known.get(login) or f"demo-{secrets.token_urlsafe(9)}"
                async with db.uow() as uow:
                    row = await uow.accounts.by_login(login)
                if row is None:
                    await service.create_account(uow=db.uow(), org=org, admin=None, who=who,
                                                 command=service.CreateAccount(login, name, unit, Role(role), password),
                                                 min_password=db.settings.password_min_length)
                elif login not in known:
                    await service.reset_password(uow=db.uow(), org=org, admin=None, who=who,
                                                 command=service.ResetPassword(row.id, password),
                                                 min_password=db.settings.password_min_length,
                                                 end_sessions=_no_sessions)
                known[login] = password
                out.append((login, role, unit, password))
        finally:
            await db.engine.dispose()
        return out

    accounts = asyncio.run(run())
    store.write_text(json.dumps(known, ensure_ascii=False))
    os.chmod(store, 0o600)
    return accounts


async def _no_sessions(_: str) -> None:
    """A fresh demo account has no sessions to end (and `mcc up` has just started Redis)."""
