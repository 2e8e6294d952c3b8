"""Integration keys of grid apps: issue, list, revoke (requests present them through shared.apikeys.header_key)."""

from __future__ import annotations

from services.grid.adapters.uow import GridUnitOfWork
from services.grid.service.handlers.common import KEYS
from shared import apikeys
from shared.errors import Invalid


async def issue_key(*, uow: GridUnitOfWork, name: str, scope_unit: str | None) -> tuple[apikeys.ApiKey, str]:
    """Issue an integration key scoped to a county or town of the registry (None: the whole city)."""
    async with uow:
        if scope_unit is not None and not await uow.registry.knows_unit(scope_unit):
            raise Invalid("scope_unit", f"{scope_unit} 不是网格登记中的区县或镇街",
                          type="unknown_unit")
        record, plaintext = await apikeys.issue(uow.session, KEYS, name=name, scope_unit=scope_unit)
        await uow.commit()
        return record, plaintext


async def list_keys(*, uow: GridUnitOfWork) -> list[apikeys.ApiKey]:
    """Every key issued, revoked ones included (never the secrets)."""
    async with uow:
        return await apikeys.list_keys(uow.session, KEYS)


async def revoke_key(*, uow: GridUnitOfWork, key_id: str, cache: apikeys.KeyCache | None = None) -> bool:
    """Revoke a key (this process forgets it at once, others within the key cache's TTL)."""
    async with uow:
        done = await apikeys.revoke(uow.session, KEYS, key_id=key_id)
        await uow.commit()
    if cache is not None:
        cache.forget(key_id)
    return done
