"""The audit trail's hash chain: editing, deleting or reordering a row is caught and named,
and so is deleting the newest rows, which the head anchor records."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from bot.runtime import Runtime
from models.audit import AuditAnchor, AuditEntry
from models.db import unit_of_work
from models.services.audit import (
    AuditFilter,
    ChainReport,
    content_digests,
    entry_hash,
    list_audit,
    prune_audit,
    record_audit,
    verify_chain,
)
from models.types import utcnow


async def _write(runtime: Runtime, count: int) -> list[int]:
    ids = []
    async with unit_of_work(runtime.sessions) as session:
        for n in range(count):
            entry = await record_audit(
                session=session, workspace_id=runtime.workspace_id, actor=f"slack:U{n % 2}",
                action="role.set" if n % 2 else "deal.closed", target_type="deal",
                target_id=n, before={"stage": "Discovery"}, after={"stage": f"S{n}"},
            )  # fmt: skip
            assert entry.id is not None
            ids.append(entry.id)
    return ids


async def _verify(runtime: Runtime) -> tuple[bool, int | None, str]:
    async with unit_of_work(runtime.sessions) as session:
        report = await verify_chain(session=session)
    return report.ok, report.bad_id, report.reason


async def test_an_untouched_chain_verifies(runtime: Runtime) -> None:
    await _write(runtime, 5)
    assert await _verify(runtime) == (True, None, "")


async def test_an_edited_row_is_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 5)
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(
            update(AuditEntry).where(col(AuditEntry.id) == ids[2]).values(after={"stage": "Won"})
        )
    ok, bad, reason = await _verify(runtime)
    assert (ok, bad) == (False, ids[2])
    assert "changed" in reason


async def test_a_deleted_row_is_named_by_its_successor(runtime: Runtime) -> None:
    ids = await _write(runtime, 5)
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(delete(AuditEntry).where(col(AuditEntry.id) == ids[1]))
    ok, bad, reason = await _verify(runtime)
    assert (ok, bad) == (False, ids[2])
    assert "deleted" in reason


async def test_reordered_rows_are_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 5)
    fields = ("at", "actor", "action", "target_id", "before", "after", "prev_hash", "hash")
    async with unit_of_work(runtime.sessions) as session:
        rows = [await session.get(AuditEntry, i) for i in (ids[1], ids[2])]
        second, third = ({f: getattr(row, f) for f in fields} for row in rows if row)
    async with unit_of_work(runtime.sessions) as session:
        for row_id, values in ((ids[1], {"hash": "x" * 64}), (ids[2], second), (ids[1], third)):
            await session.exec(
                update(AuditEntry).where(col(AuditEntry.id) == row_id).values(values)
            )
    ok, bad, _reason = await _verify(runtime)
    assert (ok, bad) == (False, ids[1])


async def _delete(runtime: Runtime, *ids: int) -> None:
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(delete(AuditEntry).where(col(AuditEntry.id).in_(ids)))


async def test_deleting_the_newest_rows_is_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 4)
    await _delete(runtime, ids[2], ids[3])
    assert await _verify(runtime) == (
        False, ids[3], f"missing, as is every row after row {ids[1]}: the newest rows were deleted",
    )  # fmt: skip


async def test_an_append_after_deleting_the_newest_rows_does_not_hide_them(
    runtime: Runtime,
) -> None:
    ids = await _write(runtime, 4)
    await _delete(runtime, ids[3])
    (later,) = await _write(runtime, 1)
    ok, bad, reason = await _verify(runtime)
    assert (ok, bad) == (False, later)
    assert "deleted" in reason


async def test_a_newest_row_rewritten_with_a_fresh_hash_is_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 3)
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(AuditEntry, ids[2])
        assert row is not None
        row.after = {"stage": "Won"}
        row.hash = entry_hash(row)
        session.add(row)
    assert await _verify(runtime) == (
        False, ids[2], "not the newest row on record (the head anchor names another)",
    )  # fmt: skip


async def test_deleting_the_head_anchor_is_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 3)
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(delete(AuditAnchor))
    assert await _verify(runtime) == (
        False, ids[2], "the newest row, but the head anchor that should name it is gone",
    )  # fmt: skip


async def test_appends_from_interleaved_transactions_keep_one_chain(runtime: Runtime) -> None:
    """The second append waits for the first transaction, then chains onto its row."""
    await _write(runtime, 1)
    first_appended = asyncio.Event()

    async def first() -> None:
        async with unit_of_work(runtime.sessions) as session:
            await record_audit(session=session, workspace_id=None, actor="cli",
                               action="audit.first", target_type="audit")  # fmt: skip
            first_appended.set()
            await asyncio.sleep(0.1)

    async def second() -> None:
        await first_appended.wait()
        async with unit_of_work(runtime.sessions) as session:
            await record_audit(session=session, workspace_id=None, actor="cli",
                               action="audit.second", target_type="audit")  # fmt: skip

    await asyncio.gather(first(), second())
    assert await _verify(runtime) == (True, None, "")


async def test_pruning_every_row_still_verifies_and_the_chain_goes_on(runtime: Runtime) -> None:
    old = await _write(runtime, 3)
    async with unit_of_work(runtime.sessions) as session:
        assert await prune_audit(session=session, older_than=utcnow()) == 3
        assert await verify_chain(session=session) == ChainReport(0)
    new = await _write(runtime, 2)
    async with unit_of_work(runtime.sessions) as session:
        assert await verify_chain(session=session) == ChainReport(2)
    assert min(new) > max(old)


async def test_pruning_leaves_an_anchor_so_the_rest_still_verifies(runtime: Runtime) -> None:
    old = await _write(runtime, 4)
    cutoff = utcnow()
    kept = await _write(runtime, 2)
    async with unit_of_work(runtime.sessions) as session:
        assert await prune_audit(session=session, older_than=cutoff) == 4
    assert await _verify(runtime) == (True, None, "")
    async with unit_of_work(runtime.sessions) as session:
        remaining = (await session.exec(select(AuditEntry.id))).all()
        await record_audit(session=session, workspace_id=None, actor="cli",
                           action="audit.pruned", target_type="audit")  # fmt: skip
    assert sorted(i for i in remaining if i) == kept
    assert not set(old) & set(remaining)
    assert (await _verify(runtime))[0]
    async with unit_of_work(runtime.sessions) as session:
        await session.exec(delete(AuditEntry).where(col(AuditEntry.id) == kept[0]))
    assert (await _verify(runtime))[:2] == (False, kept[1])


async def test_listing_filters_by_actor_action_target_and_time(runtime: Runtime) -> None:
    ids = await _write(runtime, 6)
    async with unit_of_work(runtime.sessions) as session:
        by_actor = await list_audit(session=session, query=AuditFilter(actor="slack:U1"))
        by_action = await list_audit(session=session, query=AuditFilter(action="role"))
        by_target = await list_audit(session=session, query=AuditFilter(target="deal:4"))
        later = await list_audit(
            session=session, query=AuditFilter(since=utcnow() + timedelta(minutes=1))
        )
    assert [e.id for e in by_actor] == [ids[5], ids[3], ids[1]]
    assert {e.action for e in by_action} == {"role.set"}
    assert [e.id for e in by_target] == [ids[4]]
    assert later == []


async def test_a_row_blanked_without_an_erasure_receipt_is_named(runtime: Runtime) -> None:
    ids = await _write(runtime, 3)
    async with unit_of_work(runtime.sessions) as session:
        row = await session.get(AuditEntry, ids[1])
        assert row is not None
        row.redacted = dict(zip(("before", "after"), content_digests(row), strict=True))
        row.before, row.after = {"erased": True}, {"stage": "Won"}
        session.add(row)
    assert await _verify(runtime) == (False, ids[1], "blanked without an erasure receipt")
