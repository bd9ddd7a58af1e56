"""The PostgreSQL store: parameter translation, rows, units of work, cursors, migrations."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from backend.storage import open_database
from backend.storage.migrations import all_migrations, applied, apply_migrations
from backend.storage.postgres import ParamError, PostgresDatabase, pool_options, translate
from pool.store import Store


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT :a, :b, :a", ("SELECT $1, $2, $1", ("a", "b"))),
        ("SELECT ':a', 'it''s :b', :c", ("SELECT ':a', 'it''s :b', $1", ("c",))),
        ('SELECT "x:y" FROM t WHERE v = :v', ('SELECT "x:y" FROM t WHERE v = $1', ("v",))),
        ("SELECT n::text, :n", ("SELECT n::text, $1", ("n",))),
        ("SELECT 1 -- :no\n, :yes", ("SELECT 1 -- :no\n, $1", ("yes",))),
        ("SELECT /* :no */ :yes", ("SELECT /* :no */ $1", ("yes",))),
        ("SELECT $$ :no $$, $q$ :no $q$, :yes", ("SELECT $$ :no $$, $q$ :no $q$, $1", ("yes",))),
        (
            "SELECT a FROM t WHERE b = :b_2 AND c=:c1",
            ("SELECT a FROM t WHERE b = $1 AND c=$2", ("b_2", "c1")),
        ),
        ("SELECT ARRAY[1,2][1:2], x : y", ("SELECT ARRAY[1,2][1:2], x : y", ())),
    ],
)
def test_named_parameters_become_numbered(sql: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert translate(sql) == expected


def test_pool_options_are_taken_out_of_the_url() -> None:
    dsn, options = pool_options("postgres://u@h:5/db?pool_max=3&sslmode=disable&pool_min=2")
    assert dsn == "postgresql://u@h:5/db?sslmode=disable"
    assert options == {"pool_min": 2, "pool_max": 3}


pg_only = pytest.mark.stores("postgresql")


@pg_only
async def test_rows_are_dicts_and_counts_are_rows_changed(db: Store) -> None:
    assert db.dialect == "postgresql"
    async with db.write() as tx:
        await tx.executemany(
            "INSERT INTO advertisers (name, created_ms) VALUES (:n, :t)",
            [{"n": f"a{i}", "t": i} for i in range(5)],
        )
        new_id = await tx.fetchval(
            "INSERT INTO advertisers (name, created_ms) VALUES ('x', 9) RETURNING id"
        )
        assert await tx.fetchone("SELECT name FROM advertisers WHERE id = :i", {"i": new_id}) == {
            "name": "x"
        }
        assert (
            await tx.execute("UPDATE advertisers SET name = name || '!' WHERE created_ms < 3") == 3
        )
    assert await db.fetchall("SELECT name FROM advertisers WHERE created_ms < 2 ORDER BY id") == [
        {"name": "a0!"},
        {"name": "a1!"},
    ]
    assert await db.fetchone("SELECT id FROM advertisers WHERE name = 'none'") is None
    assert await db.execute("DELETE FROM advertisers WHERE name = 'x'") == 1


@pg_only
async def test_sums_and_averages_come_back_as_sqlite_would(db: Store) -> None:
    async with db.write() as tx:
        for t in (1, 2, 4):
            await tx.execute(
                "INSERT INTO advertisers (name, created_ms) VALUES ('a', :t)", {"t": t}
            )
    total = await db.fetchval("SELECT SUM(created_ms) FROM advertisers")
    mean = await db.fetchval("SELECT AVG(created_ms) FROM advertisers")
    assert total == 7 and type(total) is int
    assert mean == pytest.approx(7 / 3) and type(mean) is float


@pg_only
async def test_reads_cannot_write(db: Store) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await db.fetchall("INSERT INTO advertisers (name, created_ms) VALUES ('z', 0) RETURNING id")
    assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == 0


@pg_only
async def test_a_missing_parameter_is_named(db: Store) -> None:
    with pytest.raises(ParamError, match=":who"):
        await db.fetchone("SELECT id FROM advertisers WHERE name = :who", {})


@pg_only
async def test_iterate_uses_a_cursor_and_can_stop_early(db: Store) -> None:
    async with db.write() as tx:
        await tx.executemany(
            "INSERT INTO advertisers (name, created_ms) VALUES (:n, 0)",
            [{"n": f"a{i}"} for i in range(1000)],
        )
    seen = []
    async for row in db.iterate("SELECT name FROM advertisers ORDER BY id", batch=64):
        seen.append(row["name"])
        if len(seen) == 100:
            break
    assert seen[0] == "a0" and seen[-1] == "a99"
    # The connection went back to the pool in a clean state: the pool still serves units.
    for _ in range(10):
        assert await db.execute("UPDATE advertisers SET created_ms = 1 WHERE name = 'a1'") == 1


@pg_only
async def test_concurrent_units_see_committed_rows_and_keep_their_own(db: Store) -> None:
    # READ COMMITTED: increments written as one statement never lose an update.
    await db.execute("INSERT INTO advertisers (name, created_ms) VALUES ('counter', 0)")

    async def bump() -> None:
        async with db.write() as tx:
            await tx.execute(
                "UPDATE advertisers SET created_ms = created_ms + 1 WHERE name = 'counter'"
            )
            await asyncio.sleep(0)

    await asyncio.gather(*(bump() for _ in range(200)))
    assert await db.fetchval("SELECT created_ms FROM advertisers WHERE name = 'counter'") == 200


async def test_instances_starting_together_migrate_once(pg_database_url: str) -> None:
    dbs = [PostgresDatabase(pg_database_url) for _ in range(4)]
    await asyncio.gather(*(d.open() for d in dbs))
    try:
        ran = await asyncio.gather(*(apply_migrations(d) for d in dbs))
        # Each migration was applied by exactly one of the instances.
        versions = sorted(m.version for batch in ran for m in batch)
        assert versions == [m.version for m in all_migrations()]
        assert await applied(dbs[0]) == versions
        assert await apply_migrations(dbs[1]) == []
    finally:
        await asyncio.gather(*(d.close() for d in dbs))


async def test_open_database_picks_postgresql_by_url(pg_database_url: str) -> None:
    db = await open_database(pg_database_url.replace("postgresql://", "postgres://", 1))
    try:
        assert isinstance(db, PostgresDatabase)
        assert await db.fetchval("SELECT COUNT(*) FROM schema_migrations") == len(all_migrations())
    finally:
        await db.close()


async def test_an_unreachable_server_is_an_os_error() -> None:
    with pytest.raises(OSError):
        await open_database("postgresql://nobody@127.0.0.1:1/none?pool_min=1")


@pg_only
async def test_failed_units_give_back_clean_connections(db: Store) -> None:
    # More failures than pooled connections: a connection left inside an aborted
    # transaction would fail every later statement on it.
    for _ in range(12):
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.write() as tx:
                await tx.execute("INSERT INTO schema_migrations VALUES (1, 'again', 0)")
    assert await db.execute("INSERT INTO advertisers (name, created_ms) VALUES ('ok', 0)") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM advertisers") == 1


@pytest.mark.parametrize(
    ("query", "expected"), [("&application_name=web-1", "web-1"), ("", "callpath")]
)
async def test_application_name_in_the_url_names_the_connections(
    pg_database_url: str, query: str, expected: str
) -> None:
    # Instances named in their URL tell themselves apart in pg_stat_activity (issue #25).
    sep = "&" if "?" in pg_database_url else "?"
    db = PostgresDatabase(pg_database_url + (sep + query.lstrip("&") if query else ""))
    await db.open()
    try:
        assert await db.fetchval("SHOW application_name") == expected
    finally:
        await db.close()
