"""Idempotency keys, API keys and rate limits on the real database matrix and a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared import apikeys, idempotency, ratelimit
from shared.migrations import upgrade
from tests.support.apps import make_runtime


@pytest.fixture
async def runtime(db, nats_url, redis_url):
    rt = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    await upgrade("hotline", db.url, schema=db.schema)
    yield rt
    await rt.engine.dispose()


async def test_concurrent_creates_with_one_key_make_one_record_and_answer_the_same(runtime):
    keys, counter = metadata.tables["idempotency_key"], metadata.tables["counter"]
    created = []

    async def create(uow):
        number = f"n{uuid.uuid4().hex[:8]}"
        created.append(number)
        await uow.session.execute(counter.insert().values(name=number, value=1))
        return 201, {"number": number}

    results = await asyncio.gather(*[
        idempotency.run_once(runtime.uow, keys, scope="t", key="abc-1", fingerprint="f", create=create)
        for _ in range(5)])
    assert len({r.body["number"] for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    async with runtime.uow() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(counter))).scalar_one() == 1


async def test_a_key_reused_for_another_request_is_a_conflict(runtime):
    keys = metadata.tables["idempotency_key"]

    async def create(uow):
        return 201, {"ok": True}

    await idempotency.run_once(runtime.uow, keys, scope="t", key="k", fingerprint=idempotency.fingerprint({"a": 1}),
                               create=create)
    with pytest.raises(idempotency.IdempotencyConflict):
        await idempotency.run_once(runtime.uow, keys, scope="t", key="k",
                                   fingerprint=idempotency.fingerprint({"a": 2}), create=create)


def test_key_syntax_is_printable_ascii_up_to_200_characters():
    assert idempotency.valid_key("0b6f3c1e-5d8a-4b7e-9a61-2f4d3c2b1a00")
    assert not idempotency.valid_key("") and not idempotency.valid_key("a b") and not idempotency.valid_key("x" * 201)


async def test_an_api_key_verifies_until_revoked_and_only_its_hash_is_stored(runtime):
    table = metadata.tables["api_key"]
    async with runtime.uow() as uow:
        record, plaintext = await apikeys.issue(uow.session, table, name="崇川网格通", scope_unit="320613")
        await uow.commit()
    async with runtime.uow() as uow:
        stored = (await uow.session.execute(select(table))).one()
        assert plaintext not in str(tuple(stored))
        assert (await apikeys.verify(uow.session, table, plaintext)).scope_unit == "320613"
        assert await apikeys.verify(uow.session, table, plaintext[:-1] + "A" if plaintext[-1] != "A" else "B") is None
        assert await apikeys.verify(uow.session, table, "not-a-key") is None
        assert await apikeys.revoke(uow.session, table, key_id=record.id)
        await uow.commit()
    async with runtime.uow() as uow:
        assert await apikeys.verify(uow.session, table, plaintext) is None


async def test_the_rate_limit_refuses_past_the_quota_and_says_when_to_retry(redis_url):
    redis = Redis.from_url(redis_url)
    try:
        decisions = [await ratelimit.hit(redis, name="key1", limit=3, window_s=60) for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[-1].remaining == 0 and 0 < int(decisions[-1].headers()["Retry-After"]) <= 60
        assert (await ratelimit.hit(redis, name="key2", limit=3, window_s=60)).allowed
    finally:
        await redis.aclose()


async def test_the_rate_limit_lets_requests_through_when_redis_is_down():
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        assert (await ratelimit.hit(redis, name="k", limit=1)).allowed
    finally:
        await redis.aclose()


async def test_requests_counted_together_get_the_answers_one_count_each_would_have_given(redis_url):
    redis = Redis.from_url(redis_url)
    rates = ratelimit.KeyRates()
    try:
        assert (await rates.hit(redis, name="together", limit=4)).remaining == 3
        decisions = await asyncio.gather(*[rates.hit(redis, name=name, limit=4)
                                           for name in ["together"] * 5 + ["other"]])
        mine = decisions[:5]
        assert sorted(d.remaining for d in mine) == [0, 0, 0, 1, 2]
        assert sum(d.allowed for d in mine) == 3 and decisions[5].allowed and decisions[5].remaining == 3
        refused = [d for d in mine if not d.allowed]
        assert all(0 < int(d.headers()["Retry-After"]) <= 60 for d in refused)
        # one process's requests share a count with another's (the same Redis key): 1 + 5 + 1 so far
        assert not (await ratelimit.hit(redis, name="together", limit=6)).allowed
    finally:
        await redis.aclose()


async def test_requests_counted_together_go_through_when_redis_is_down():
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        decisions = await asyncio.gather(*[ratelimit.KeyRates().hit(redis, name="k", limit=1) for _ in range(3)])
        assert all(d.allowed for d in decisions)
    finally:
        await redis.aclose()


async def _issued_key(runtime):
    """A key issued in the database, and a unit-of-work factory that counts the transactions it opens."""
    table, opened = metadata.tables["api_key"], []

    def counting_uow():
        opened.append(1)
        return runtime.uow()

    async with runtime.uow() as uow:
        record, plaintext = await apikeys.issue(uow.session, table, name="网格通", scope_unit=None)
        await uow.commit()
    return table, record, plaintext, counting_uow, opened


async def test_requests_that_miss_the_key_cache_together_share_one_lookup(runtime):
    table, record, plaintext, counting_uow, opened = await _issued_key(runtime)
    cache = apikeys.KeyCache(ttl_s=60)
    found = await asyncio.gather(*[apikeys.verify_cached(counting_uow, table, plaintext, cache) for _ in range(8)])
    assert {k.id for k in found} == {record.id} and len(opened) == 1 and not cache.lookups
    wrong = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert await asyncio.gather(*[apikeys.verify_cached(counting_uow, table, wrong, cache) for _ in range(3)]) \
        == [None] * 3
    assert len(opened) == 2  # a wrong key is looked up too (once for the three), and not kept


async def test_a_verified_key_is_answered_from_the_cache_until_it_expires_or_its_revoker_forgets_it(runtime):
    table, record, plaintext, counting_uow, opened = await _issued_key(runtime)
    cache = apikeys.KeyCache(ttl_s=60)
    assert (await apikeys.verify_cached(counting_uow, table, plaintext, cache)).id == record.id
    assert (await apikeys.verify_cached(counting_uow, table, plaintext, cache)).id == record.id
    assert len(opened) == 1  # the second request skipped the database
    async with runtime.uow() as uow:  # revoked by another process: this one answers from its cache
        assert await apikeys.revoke(uow.session, table, key_id=record.id)
        await uow.commit()
    assert (await apikeys.verify_cached(counting_uow, table, plaintext, cache)) is not None
    cache.forget(record.id)  # what the revoking process does
    assert await apikeys.verify_cached(counting_uow, table, plaintext, cache) is None
    assert await apikeys.verify_cached(counting_uow, table, plaintext, apikeys.KeyCache(ttl_s=0)) is None
    assert len(opened) == 3 and await apikeys.verify_cached(counting_uow, table, "not-a-key", cache) is None
    # An entry lasts ttl_s from when it was verified, then the key is looked up again.
    timed = apikeys.KeyCache(ttl_s=10)
    timed.put("digest", record, now=100.0)
    assert timed.get("digest", now=109.9) is record and timed.get("digest", now=110.0) is None
