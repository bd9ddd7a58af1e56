"""The one-time code that lets the first administrator be created on a fresh install.

While no user exists, ``callpath serve`` issues a code at start and prints it on its
console and in the server log; the set-up page (``/setup``) creates the first
administrator only with it, so a stranger who finds a fresh install first cannot take it.
Only the code's SHA-256 is stored, in the database (every worker and instance accepts the
code the starting process printed); it is used once and expires after
:data:`CODE_TTL_MS`. A new start issues another code; earlier ones stay valid until they
expire (instances sharing a database each print one), and none is left once a user exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from pool.store import Store, Tx

log = logging.getLogger("callpath")

# Letters and digits that cannot be mistaken for one another when read off a console.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12  # 60 bits: not guessable at the sign-in throttle's rate
CODE_TTL_MS = 24 * 3600 * 1000


def _digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def normalize(code: str) -> str:
    """The code as typed, without spaces or dashes, in capitals."""
    return "".join(c for c in code.upper() if c not in " -\t")[:64]


def shown(code: str) -> str:
    """The code as printed: groups of four (``ABCD-EFGH-JKLM``)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


async def users_exist(db: Store | Tx) -> bool:
    """Whether any dashboard user exists (then there is nothing to set up)."""
    return await db.fetchval("SELECT 1 FROM users LIMIT 1") is not None


async def issue(db: Store, now_ms: int) -> str | None:
    """A new set-up code when no user exists, else None."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    async with db.write() as tx:
        if await users_exist(tx):
            return None
        # Earlier codes stay valid until they expire: instances sharing one database each
        # print a code at start, and any of them may be the one the operator reads.
        await tx.execute(
            "DELETE FROM setup_codes WHERE used_ms IS NOT NULL OR expires_ms <= :t", {"t": now_ms}
        )
        await tx.execute(
            "INSERT INTO setup_codes (code_hash, created_ms, expires_ms) VALUES (:h, :c, :e)",
            {"h": _digest(code), "c": now_ms, "e": now_ms + CODE_TTL_MS},
        )
    return code


async def live_code_exists(db: Store, now_ms: int) -> bool:
    """Whether an unused, unexpired code is waiting to be used."""
    found = await db.fetchval(
        "SELECT 1 FROM setup_codes WHERE used_ms IS NULL AND expires_ms > :t", {"t": now_ms}
    )
    return found is not None


async def ensure(db: Store, now_ms: int) -> str | None:
    """Issue a code at start unless one is live already (``serve`` printed it before
    starting its workers) or a user exists; the new code, else None."""
    if await users_exist(db) or await live_code_exists(db, now_ms):
        return None
    return await issue(db, now_ms)


def announce(code: str, url: str = "") -> str:
    """The lines that tell the operator how to finish the set-up."""
    where = (url.rstrip("/") + "/setup") if url else "/setup"
    return (
        "callpath: no user exists yet. Open "
        f"{where} and enter the one-time set-up code {shown(code)} to create the first"
        " administrator (valid 24 hours, once), or run `callpath users create`."
    )


async def spend(tx: Tx, code: str, now_ms: int) -> bool:
    """Use the code inside the caller's unit of work: True when it was live and matched.

    The stored digest is compared in constant time. Marking it used is conditional on its
    still being unused, so of two set-ups sent at once only one gets it (PostgreSQL
    re-checks the row after the first commits; SQLite has one writer).
    """
    given = _digest(code)
    rows = await tx.fetchall(
        "SELECT id, code_hash FROM setup_codes WHERE used_ms IS NULL AND expires_ms > :t",
        {"t": now_ms},
    )
    for row in rows:
        if hmac.compare_digest(str(row["code_hash"]), given):
            changed = await tx.execute(
                "UPDATE setup_codes SET used_ms = :t WHERE id = :id AND used_ms IS NULL",
                {"t": now_ms, "id": row["id"]},
            )
            return changed == 1
    return False
