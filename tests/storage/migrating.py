"""Databases left at an older migration, for the tests of a migration that fills old rows.

A migration's test builds the schema as it was before it (:func:`database_at`), writes rows
the way the code of that time did (plain SQL: the factory of ``backend/storage/seed.py``
writes today's schema), then runs the migration and checks the rows.
"""

from __future__ import annotations

from backend.storage import open_database
from backend.storage.migrations import all_migrations
from pool.store import Store, Tx

_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
)


async def migrate_up_to(db: Store, version: int) -> None:
    """Apply every migration up to ``version`` (included), each as a plain unit of work."""
    await db.execute(_MIGRATIONS_TABLE)
    for migration in all_migrations():
        if migration.version > version:
            break
        async with db.write() as tx:
            for statement in migration.sql(db.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, 0)",
                {"v": migration.version, "n": migration.name},
            )


async def database_at(url: str, version: int) -> Store:
    """The database at ``url`` with the schema of migration ``version``; the caller closes it."""
    db = await open_database(url, migrate=False)
    try:
        await migrate_up_to(db, version)
    except BaseException:
        await db.close()
        raise
    return db


async def old_site(tx: Tx) -> int:
    """An advertiser and its site written with the columns every schema has; the site id."""
    adv = await tx.fetchval(
        "INSERT INTO advertisers (name, created_ms) VALUES ('a', 0) RETURNING id"
    )
    site: int = await tx.fetchval(
        "INSERT INTO sites (advertiser_id, site_key, name, created_ms)"
        " VALUES (:a, 'k', 'S', 0) RETURNING id",
        {"a": adv},
    )
    return int(site)
