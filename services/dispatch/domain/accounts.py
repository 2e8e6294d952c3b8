"""People who sign in: one account, one role, one unit. Pure rules: which role fits which unit, who may manage
whom, what a login and a password must look like.

Dispatch owns accounts because it owns the organisation tree: "an admin manages their own unit and below"
and "a town dispatcher belongs to a town" are questions about that tree, answered in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from services.dispatch.domain.org import OrgTree
from shared.errors import Invalid
from shared.roles import ROLE_UNIT_KINDS, Role

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MAX_PASSWORD = 256

ROLE_NAMES: dict[Role, str] = {
    Role.OPERATOR: "话务员", Role.TOWN: "镇（街道）调度员", Role.COUNTY: "县（区）调度员",
    Role.CITY: "市级调度员", Role.DEPARTMENT: "职能部门", Role.ADMIN: "管理员",
}


@dataclass(frozen=True)
class Account:
    id: str
    login: str
    display_name: str
    unit_code: str
    role: Role
    active: bool
    created_at: datetime
    disabled_at: datetime | None = None


class AccountRuleBroken(Invalid, ValueError):
    """A field breaks a rule: a 422 naming the field (`type` account_rule)."""

    def __init__(self, field: str, message: str) -> None:
        Invalid.__init__(self, field, message, type="account_rule")
        self.field, self.message = field, message


def check_login(login: str) -> str:
    """The login, or AccountRuleBroken: 3–64 lower-case letters, digits, '.', '_' or '-'."""
    if not LOGIN.match(login):
        raise AccountRuleBroken("login", "登录名须为 3–64 位小写字母、数字、点、下划线或连字符，且以字母或数字开头")
    return login


def check_password(password: str, *, min_length: int) -> None:
    """AccountRuleBroken unless the password is long enough (and not absurdly long)."""
    if len(password) < min_length:
        raise AccountRuleBroken("password", f"密码至少 {min_length} 个字符")
    if len(password) > MAX_PASSWORD:
        raise AccountRuleBroken("password", f"密码不能超过 {MAX_PASSWORD} 个字符")


def check_role_fits_unit(role: Role, unit_code: str, org: OrgTree) -> None:
    """AccountRuleBroken unless the unit exists and is of a kind the role belongs to."""
    unit = org.get(unit_code)
    if unit is None:
        raise AccountRuleBroken("unit_code", f"单位 {unit_code} 不存在")
    if unit.kind not in ROLE_UNIT_KINDS[role]:
        raise AccountRuleBroken("role", f"{ROLE_NAMES[role]}不能属于{unit.name}（{unit.kind.value}）")


def may_manage(admin_unit: str, unit_code: str, org: OrgTree) -> bool:
    """An admin manages accounts of their own unit and the units below it, never above or beside."""
    return unit_code in org and org.is_within(unit_code, admin_unit)


def unit_kind(unit_code: str, org: OrgTree) -> str | None:
    """A unit's kind from the tree (the door check of dispatch: shared.auth asks it), None when unknown."""
    unit = org.get(unit_code)
    return None if unit is None else unit.kind.value
