"""The account use cases (CreateAccount, ChangeAccount) on the in-memory unit of work: one event and one
audit row per change, refusals as the shared problems the API answers, nothing written on a refusal."""

from __future__ import annotations

import json

import pytest

from services.dispatch.adapters import reference
from services.dispatch.config import DispatchSettings
from services.dispatch.domain.accounts import AccountRuleBroken
from services.dispatch.domain.org import OrgTree
from services.dispatch.service import accounts as service
from shared.auth import Principal
from shared.roles import Role
from tests.support.dispatch import CC_TOWN, TONGZHOU, TZ_TOWN_A
from tests.unit.dispatch.fake_uow import FakeDispatchUnitOfWork

pytestmark = pytest.mark.unit
PASSWORD = "Kx9-stapler-orchid-41"
ADMIN = Principal("admin-tz", Role.ADMIN, TONGZHOU, name="通州管理员", kind="session")


@pytest.fixture(scope="module")
def org() -> OrgTree:
    return OrgTree.from_units(reference.initial_units(DispatchSettings()))


def create(login: str, unit: str = TZ_TOWN_A) -> service.CreateAccount:
    return service.CreateAccount(login=login, display_name=f"测试{login}", unit_code=unit, role=Role.TOWN,
                                 password=PASSWORD)


async def test_an_admin_opens_an_account_in_their_county_with_one_event_and_one_audit_row(org):
    uow = FakeDispatchUnitOfWork()
    account = await service.create_account(uow=uow, org=org, admin=ADMIN, who=service.Who.of(ADMIN),
                                           command=create("town.li"), min_password=12)
    assert (account.login, account.unit_code, account.role, account.active) == ("town.li", TZ_TOWN_A, Role.TOWN, True)
    assert uow.commits == 1 and [e.data.action for e in uow.events] == ["created"]
    assert [(a["action"], a["login"], a["actor_id"]) for a in uow.staged["account_audit"]] == [
        ("created", "town.li", "admin-tz")]
    written = json.dumps([e.data.model_dump(mode="json") for e in uow.events] + uow.staged["account_audit"],
                         default=str)
    assert PASSWORD not in written and uow.accounts.rows[account.id].password_hash != PASSWORD


async def test_a_taken_login_is_a_conflict_and_nothing_more_is_written(org):
    uow = FakeDispatchUnitOfWork()
    await service.create_account(uow=uow, org=org, admin=ADMIN, who=service.Who.of(ADMIN),
                                 command=create("town.li"), min_password=12)
    with pytest.raises(service.LoginTaken) as taken:
        await service.create_account(uow=uow, org=org, admin=ADMIN, who=service.Who.of(ADMIN),
                                     command=create("town.li"), min_password=12)
    assert taken.value.status == 409
    assert uow.commits == 1 and len(uow.accounts.rows) == 1 and len(uow.staged["account_audit"]) == 1


async def test_a_unit_beyond_the_admins_county_answers_as_unknown(org):
    uow = FakeDispatchUnitOfWork()
    with pytest.raises(service.AccountNotFound) as unknown:
        await service.create_account(uow=uow, org=org, admin=ADMIN, who=service.Who.of(ADMIN),
                                     command=create("town.he", unit=CC_TOWN), min_password=12)
    assert unknown.value.status == 404
    assert (uow.commits, uow.accounts.rows, uow.staged) == (0, {}, {})


async def test_an_admin_cannot_disable_their_own_account_and_no_session_is_ended(org):
    uow = FakeDispatchUnitOfWork()
    me = await service.create_account(uow=uow, org=org, admin=None, who=service.Who("cli:test"),
                                      command=service.CreateAccount("admin.tz", "通州管理员", TONGZHOU, Role.ADMIN,
                                                                    PASSWORD), min_password=12)
    ended: list[str] = []

    async def end_sessions(account_id: str) -> None:
        ended.append(account_id)

    admin = Principal(me.id, Role.ADMIN, TONGZHOU, name="通州管理员", kind="session")
    with pytest.raises(AccountRuleBroken) as refused:
        await service.change_account(uow=uow, org=org, admin=admin, who=service.Who.of(admin),
                                     command=service.ChangeAccount(me.id, active=False), end_sessions=end_sessions)
    assert refused.value.status == 422 and refused.value.content()["detail"][0]["field"] == "active"
    assert ended == [] and uow.accounts.rows[me.id].active and uow.commits == 1
