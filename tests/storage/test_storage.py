"""The SQLite store: one writer, units of work, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.storage import SQLiteDatabase, open_database
from backend.storage.migrations import all_migrations, applied, apply_migrations, pending


async def _schema(db: SQLiteDatabase) -> list[tuple[str, str]]:
    rows = await db.fetchall("SELECT name, sql FROM sqlite_master ORDER BY name")
    return [(r["name"], r["sql"] or "") for r in rows]


async def test_200_concurrent_write_units_all_commit(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        await db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        await db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")

        async def unit(i: int) -> None:
            async with db.write() as tx:
                n = await tx.fetchval("SELECT n FROM counter WHERE id = 1")
                await asyncio.sleep(0)  # let other units try to interleave
                await tx.execute("UPDATE counter SET n = :n WHERE id = 1", {"n": n + 1})
                await tx.execute(
                    "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0)", {"n": f"a{i}"}
                )

        results = await asyncio.gather(*(unit(i) for i in range(200)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert await db.fetchval("SELECT n FROM counter WHERE id = 1") == 200
        assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == 200
    finally:
        await db.close()


async def test_two_processes_worth_of_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    # Two Database objects on one file stand for the server and the CLI writing at once.
    url = f"sqlite:///{tmp_path / 'two.db'}"
    first, second = await open_database(url), await open_database(url)
    try:

        async def unit(db: SQLiteDatabase, i: int) -> None:
            async with db.write() as tx:
                await tx.execute(
                    "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0)", {"n": str(i)}
                )

        await asyncio.gather(*(unit(first if i % 2 else second, i) for i in range(100)))
        assert await first.fetchval("SELECT COUNT(*) FROM advertisers") == 100
    finally:
        await first.close()
        await second.close()


async def test_a_failed_unit_rolls_back_entirely(db: SQLiteDatabase) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as tx:
            await tx.execute("INSERT INTO advertisers (name, created_ms) VALUES ('x', 0)")
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == 0
    # The writer is usable afterwards.
    await db.execute("INSERT INTO advertisers (name, created_ms) VALUES ('y', 0)")
    assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == 1


async def test_migrations_applied_twice_change_nothing(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'm.db'}", migrate=False)
    try:
        assert [m.version for m in await pending(db)] == [m.version for m in all_migrations()]
        first = await apply_migrations(db)
        assert first, "a fresh database has migrations to apply"
        schema = await _schema(db)
        versions = await applied(db)
        assert await apply_migrations(db) == []
        assert await _schema(db) == schema
        assert await applied(db) == versions
        assert await pending(db) == []
    finally:
        await db.close()


@pytest.mark.stores("sqlite")
async def test_wal_mode_and_readers_are_read_only(db: SQLiteDatabase) -> None:
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    with pytest.raises(Exception, match=r"readonly|read-only|attempt to write"):
        await db.fetchall("INSERT INTO advertisers (name, created_ms) VALUES ('z', 0)")


async def test_iterate_streams_rows(db: SQLiteDatabase) -> None:
    async with db.write() as tx:
        await tx.executemany(
            "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0)",
            [{"n": f"a{i}"} for i in range(1234)],
        )
    names = [
        row["name"]
        async for row in db.iterate("SELECT name FROM advertisers ORDER BY id", batch=100)
    ]
    assert len(names) == 1234 and names[0] == "a0" and names[-1] == "a1233"


async def _insert(tx: Any, name: str) -> int:
    return int(
        await tx.fetchval(
            "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0) RETURNING id", {"n": name}
        )
    )


def _names(path: Path) -> list[str]:
    # A connection of its own: what another process would see.
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM advertisers ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.stores("sqlite")
async def test_concurrent_units_share_commits_and_a_failed_one_undoes_only_itself(
    tmp_path: Path,
) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'g.db'}")
    try:

        async def unit(i: int) -> int:
            async def fn(tx: Any) -> int:
                row = await _insert(tx, f"a{i}")
                if i % 10 == 3:
                    raise ValueError(i)
                return row

            answer = await db.transact(fn)
            # Committed before the caller goes on: another connection sees it already.
            assert f"a{i}" in _names(db.path)
            return answer

        results = await asyncio.gather(*(unit(i) for i in range(100)), return_exceptions=True)
        failed = [r for r in results if isinstance(r, ValueError)]
        assert len(failed) == 10
        assert sorted(_names(db.path)) == sorted(f"a{i}" for i in range(100) if i % 10 != 3)
        assert db._group is None  # nothing left open
    finally:
        await db.close()


@pytest.mark.stores("sqlite")
async def test_a_unit_whose_transaction_sqlite_rolled_back_fails_its_whole_group(
    tmp_path: Path,
) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'lost.db'}")
    try:

        async def fine(tx: Any) -> int:
            return await _insert(tx, "kept?")

        async def lost(tx: Any) -> None:
            await _insert(tx, "lost")
            # What SQLite does on an I/O error or a full disk: the transaction is gone.
            await tx.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")

        results = await asyncio.gather(db.transact(fine), db.transact(lost), return_exceptions=True)
        assert all(isinstance(r, sqlite3.OperationalError) for r in results)
        assert _names(db.path) == []
        # The store goes on working.
        assert await db.transact(fine) > 0
        assert _names(db.path) == ["kept?"]
    finally:
        await db.close()


@pytest.mark.stores("sqlite")
async def test_write_units_wait_for_an_open_group_and_groups_for_them(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'mix.db'}")
    try:

        async def long_unit(i: int) -> None:
            async with db.write() as tx:
                await _insert(tx, f"w{i}")
                await asyncio.sleep(0)
                await _insert(tx, f"w{i}b")

        async def short_unit(i: int) -> None:
            await db.transact(lambda tx: _insert(tx, f"t{i}"))

        jobs = [long_unit(i) if i % 3 == 0 else short_unit(i) for i in range(60)]
        await asyncio.gather(*jobs)
        names = _names(db.path)
        assert len(names) == 60 + 20
        # A write unit's two rows are next to each other: nothing ran inside it.
        for i in range(0, 60, 3):
            assert names.index(f"w{i}b") == names.index(f"w{i}") + 1
    finally:
        await db.close()
