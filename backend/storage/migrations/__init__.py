"""Numbered migrations, recorded in ``schema_migrations``.

Each migration is a module ``mNNNN_name.py`` in this package defining ``STATEMENTS``: a list
of SQL statements written once for both stores. Two tokens are replaced per dialect:
``{pk}`` (an auto-numbered integer primary key) and ``{json}`` (a JSON document column).
A migration runs inside one unit of work and is recorded in the same unit, so a crash
never leaves it half applied.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from pool.store import Store, now_ms

_TOKENS = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "json": "TEXT"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "json": "TEXT"},
}


@dataclass(frozen=True)
class Migration:
    """One numbered change of schema."""

    version: int
    name: str
    statements: tuple[str, ...]

    def sql(self, dialect: str) -> list[str]:
        """The statements with this dialect's types filled in."""
        tokens = _TOKENS[dialect]
        return [
            s.replace("{pk}", tokens["pk"]).replace("{json}", tokens["json"])
            for s in self.statements
        ]


def all_migrations() -> list[Migration]:
    """Every migration shipped, in order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(Migration(int(info.name[1:5]), info.name[6:], tuple(module.STATEMENTS)))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def _ensure_table(db: Store) -> None:
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
    )


async def applied(db: Store) -> list[int]:
    """Versions already applied to this database."""
    await _ensure_table(db)
    rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


async def pending(db: Store) -> list[Migration]:
    """Migrations not yet applied, in order."""
    done = set(await applied(db))
    return [m for m in all_migrations() if m.version not in done]


async def apply_migrations(db: Store) -> list[Migration]:
    """Apply every pending migration; return what was applied (nothing the second time)."""
    ran = []
    for migration in await pending(db):
        async with db.write() as tx:
            # Checked again inside the unit: another process may have applied it meanwhile.
            if await tx.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = :v", {"v": migration.version}
            ):
                continue
            for statement in migration.sql(db.dialect):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (:v, :n, :t)",
                {"v": migration.version, "n": migration.name, "t": now_ms()},
            )
        ran.append(migration)
    return ran
