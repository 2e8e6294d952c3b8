"""shared.groupcommit on the real database matrix: shared transactions, answers only after commit, and one
request's refusal or conflict never failing the others."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared.groupcommit import GroupCommit
from shared.idempotency import IdempotencyConflict, fingerprint
from shared.migrations import upgrade
from tests.support.apps import make_runtime

KEYS, COUNTER = metadata.tables["idempotency_key"], metadata.tables["counter"]


class Refused(Exception):
    pass


@pytest.fixture
async def runtime(db, nats_url, redis_url):
    rt = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    await upgrade("hotline", db.url, schema=db.schema)
    yield rt
    await rt.engine.dispose()


async def _rows(runtime) -> set[str]:
    async with runtime.uow() as uow:
        return set((await uow.session.execute(select(COUNTER.c.name))).scalars())


def _engine(runtime, **kwargs):
    """A group commit whose payload is a counter name to insert; names starting 'bad' are refused."""

    async def stage_one(uow, name: str):
        if name.startswith("bad"):
            raise Refused(name)
        await uow.session.execute(COUNTER.insert().values(name=name, value=1))
        return 201, {"name": name}

    return GroupCommit(runtime.uow, KEYS, stage_one=stage_one, **kwargs)


async def test_concurrent_creates_share_one_transaction_and_each_answer_comes_after_its_commit(runtime):
    engine = _engine(runtime)
    names = [f"n{n}" for n in range(12)]

    async def one(name: str):
        stored = await engine.submit(name, scope="t", key=name, fingerprint=fingerprint(name))
        # The answer arrives only once the row is durable: another transaction already sees it.
        assert name in await _rows(runtime)
        return stored

    answers = await asyncio.gather(*(one(n) for n in names))
    assert [a.body["name"] for a in answers] == names and not any(a.replayed for a in answers)
    assert engine.groups < len(names)  # requests arriving together were written together
    assert await _rows(runtime) == set(names)


async def test_a_refused_request_fails_alone_and_the_rest_of_its_group_commits(runtime):
    engine = _engine(runtime)
    names = ["a1", "bad-1", "a2", "a3"]
    answers = await asyncio.gather(*(engine.submit(n, scope="t", key=n, fingerprint=fingerprint(n))
                                     for n in names), return_exceptions=True)
    assert isinstance(answers[1], Refused)
    assert [a.status_code for n, a in enumerate(answers) if n != 1] == [201, 201, 201]
    assert await _rows(runtime) == {"a1", "a2", "a3"}
    async with runtime.uow() as uow:  # the refused request stored nothing for its key
        assert (await uow.session.execute(select(KEYS.c.key).where(KEYS.c.key == "bad-1"))).first() is None


async def test_a_key_reused_for_another_request_conflicts_alone_and_a_retry_replays(runtime):
    engine = _engine(runtime)
    first = await engine.submit("x1", scope="t", key="k1", fingerprint=fingerprint("x1"))
    answers = await asyncio.gather(
        engine.submit("x1", scope="t", key="k1", fingerprint=fingerprint("x1")),  # a retry
        engine.submit("x2", scope="t", key="k1", fingerprint=fingerprint("x2")),  # the key reused
        engine.submit("y1", scope="t", key="k2", fingerprint=fingerprint("y1")),
        engine.submit("y1", scope="t", key="k2", fingerprint=fingerprint("y1")),  # twice in one group
        engine.submit("y2", scope="t", key="k2", fingerprint=fingerprint("y2")),  # reused in the group
        engine.submit("z1", scope="t", key=None, fingerprint=fingerprint("z1")),  # no key at all
        return_exceptions=True)
    assert not first.replayed and answers[0].replayed and answers[0].body == first.body
    assert isinstance(answers[1], IdempotencyConflict)
    assert not answers[2].replayed and answers[3].replayed and answers[3].body == answers[2].body
    assert isinstance(answers[4], IdempotencyConflict)
    assert answers[5].status_code == 201
    assert await _rows(runtime) == {"x1", "y1", "z1"}


async def test_a_group_that_fails_in_the_database_is_redone_one_by_one(runtime):
    # "taken" already exists: its INSERT breaks the group's transaction (an integrity error, as when another
    # process committed first), so every request of the group is redone alone and only "taken" fails.
    engine = _engine(runtime)
    async with runtime.uow() as uow:
        await uow.session.execute(COUNTER.insert().values(name="taken", value=1))
        await uow.commit()
    names = [f"m{n}" for n in range(3)]
    answers = await asyncio.gather(
        *(engine.submit(n, scope="t", key=n, fingerprint=fingerprint(n)) for n in names),
        engine.submit("taken", scope="t", key="k-taken", fingerprint=fingerprint("taken")),
        return_exceptions=True)
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    assert isinstance(answers[3], Exception)
    assert await _rows(runtime) == {*names, "taken"}
    async with runtime.uow() as uow:
        assert set((await uow.session.execute(select(KEYS.c.key))).scalars()) == set(names)
