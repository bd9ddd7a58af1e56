"""``callpath users``: create, list, set passwords of, disable and enable dashboard users.

For scripts and for a server whose set-up code is lost. A password never travels in the
command line (where ``ps`` and shell history would show it): it is asked for twice when
the command runs at a terminal, else read from the first line of stdin
(``--password-stdin`` forces that).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="create, list and manage dashboard users")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["admin", "member"])
    create.add_argument("--advertiser", type=int, help="the member's advertiser id")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(func=run_create)

    ls = actions.add_parser("list", help="list users")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    pw = actions.add_parser("set-password", help="set a user's password (signs them out)")
    pw.add_argument("email")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.set_defaults(func=run_set_password)

    # Commands that take one user's e-mail and switch one thing (name, run, switch, help).
    switches: tuple[tuple[str, Any, dict[str, bool], str], ...] = (
        ("disable", run_disable, {"disabled": True},
         "disable a user (signed out, API tokens revoked)"),
        ("enable", run_disable, {"disabled": False}, "let a disabled user sign in again"),
        ("allow-recordings", run_recordings_right, {"allowed": True},
         "let a member hear and download call recordings"),
        ("deny-recordings", run_recordings_right, {"allowed": False},
         "take a member's right to hear call recordings"),
    )  # fmt: skip
    for name, run, switch, text in switches:
        cmd = actions.add_parser(name, help=text)
        cmd.add_argument("email")
        cmd.set_defaults(func=run, **switch)


def read_password(from_stdin: bool) -> str:
    """The new password: asked twice at a terminal, else the first line of stdin."""
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def _email(text: str) -> str:
    email = text.strip().lower()
    if not email or "@" not in email or len(email) > 320:
        raise ValueError(f"{text!r} is not an e-mail address")
    return email


def run_create(args: argparse.Namespace) -> int:
    from backend import accounts
    from backend.commands import run_with_db
    from pool.store import now_ms

    email = _email(args.email)
    if args.role == "member" and args.advertiser is None:
        raise ValueError("a member belongs to one advertiser: give --advertiser ID")
    if args.role == "admin" and args.advertiser is not None:
        raise ValueError("an administrator sees every advertiser: leave out --advertiser")
    password = read_password(args.password_stdin)

    async def work(db: Any, settings: Any) -> int:
        async with db.write() as tx:
            if await tx.fetchval("SELECT 1 FROM users WHERE email = :e", {"e": email}):
                raise ValueError(f"a user with the e-mail {email} exists")
            if args.advertiser is not None and not await tx.fetchval(
                "SELECT 1 FROM advertisers WHERE id = :a", {"a": args.advertiser}
            ):
                raise LookupError(f"no advertiser has the id {args.advertiser}")
            user_id: int = await accounts.create_user(
                tx,
                email=email,
                password=password,
                role=args.role,
                advertiser_id=args.advertiser,
                now_ms=now_ms(),
            )
        return user_id

    user_id = run_with_db(args, work)
    print(f"created user {user_id} {email} ({args.role})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await db.fetchall(
            "SELECT u.id, u.email, u.role, u.advertiser_id, a.name AS advertiser,"
            " u.can_see_callers, u.created_ms, u.disabled_ms FROM users u"
            " LEFT JOIN advertisers a ON a.id = u.advertiser_id ORDER BY u.id"
        )
        # A flag, as JSON says it (SQLite stores it as 0/1).
        return [{**r, "can_see_callers": bool(r["can_see_callers"])} for r in rows]

    rows = run_with_db(args, work)
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for r in rows:
        scope = "every advertiser" if r["role"] == "admin" else f"advertiser {r['advertiser_id']}"
        state = "disabled" if r["disabled_ms"] is not None else "active"
        print(f"{r['id']:>5}  {r['email']:<40} {r['role']:<7} {scope:<20} {state}")
    return 0


async def _user_id(db: Any, email: str) -> int:
    user_id = await db.fetchval("SELECT id FROM users WHERE email = :e", {"e": email})
    if user_id is None:
        raise LookupError(f"no user has the e-mail {email}")
    return int(user_id)


def _change_user(
    args: argparse.Namespace, email: str, change: Callable[[Any, int], Awaitable[None]]
) -> None:
    """Run ``change(tx, user_id)`` on the user with the e-mail ``email``, in one write."""
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> None:
        user_id = await _user_id(db, email)
        async with db.write() as tx:
            await change(tx, user_id)

    run_with_db(args, work)


def run_set_password(args: argparse.Namespace) -> int:
    from backend import accounts
    from pool.store import now_ms

    email = _email(args.email)
    password = read_password(args.password_stdin)

    async def change(tx: Any, user_id: int) -> None:
        await accounts.set_password(tx, user_id=user_id, password=password, now_ms=now_ms())

    _change_user(args, email, change)
    print(f"password of {email} set; their open sign-ins were ended")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    from backend import accounts
    from pool.store import now_ms

    email = _email(args.email)

    async def change(tx: Any, user_id: int) -> None:
        await accounts.set_disabled(tx, user_id=user_id, disabled=args.disabled, now_ms=now_ms())

    _change_user(args, email, change)
    if args.disabled:
        print(f"{email} disabled: signed out everywhere, API tokens revoked")
    else:
        print(f"{email} may sign in again (revoked API tokens stay revoked)")
    return 0


def run_recordings_right(args: argparse.Namespace) -> int:
    """Give or take a user's right to hear recordings (issue #22)."""
    from backend import accounts

    email = _email(args.email)

    async def change(tx: Any, user_id: int) -> None:
        await accounts.set_hears_recordings(tx, user_id=user_id, allowed=args.allowed)

    _change_user(args, email, change)
    print(f"{email} {'may' if args.allowed else 'may no longer'} hear call recordings")
    return 0
