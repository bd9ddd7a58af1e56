"""``callpath users``: the first administrator and user chores without the browser."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

from backend.auth import verify_password
from tests.support.server import ROOT, cli_env, run_cli


def users(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``callpath users ARGS`` with ``stdin`` as its input (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", "users", *args],
        env=cli_env(url),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _row(path: Path, sql: str, *params: object) -> tuple[object, ...]:
    with sqlite3.connect(path) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return tuple(row)


def test_create_an_administrator_from_stdin_then_list(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    url = f"sqlite:///{path}"
    made = users(
        url, "create", "--email", "Owner@Example.jp", "--role", "admin", stdin="s3cret-pass\n"
    )
    assert made.returncode == 0, made.stderr
    assert "s3cret-pass" not in made.stdout + made.stderr
    (stored,) = _row(path, "SELECT password_hash FROM users WHERE email = ?", "owner@example.jp")
    assert verify_password("s3cret-pass", str(stored))
    listed = users(url, "list", "--json")
    rows = orjson.loads(listed.stdout)
    assert [(r["email"], r["role"], r["advertiser_id"]) for r in rows] == [
        ("owner@example.jp", "admin", None)
    ]
    assert "password_hash" not in rows[0]
    assert rows[0]["can_see_callers"] is True  # a JSON boolean, not SQLite's 1
    again = users(url, "create", "--email", "owner@example.jp", "--role", "admin", stdin="x" * 9)
    assert again.returncode == 2 and "exists" in again.stderr


def test_refusals_store_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    url = f"sqlite:///{path}"
    short = users(url, "create", "--email", "a@example.jp", "--role", "admin", stdin="short\n")
    assert short.returncode == 2 and "8 to 1024" in short.stderr
    member = users(url, "create", "--email", "m@example.jp", "--role", "member", stdin="x" * 10)
    assert member.returncode == 2 and "--advertiser" in member.stderr
    nowhere = users(
        url,
        "create",
        "--email",
        "m@example.jp",
        "--role",
        "member",
        "--advertiser",
        "99",
        stdin="x" * 10,
    )
    assert nowhere.returncode == 2 and "no advertiser" in nowhere.stderr
    assert _row(path, "SELECT COUNT(*) FROM users") == (0,)


def test_set_password_and_disable_end_sign_ins(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    url = f"sqlite:///{path}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0  # a user with a token
    email = "admin@example.com"
    (user_id,) = _row(path, "SELECT id FROM users WHERE email = ?", email)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO web_sessions (user_id, token_hash, csrf, created_ms, expires_ms)"
            " VALUES (?, 'h', 'c', 1, 9999999999999)",
            (user_id,),
        )
    changed = users(url, "set-password", email, "--password-stdin", stdin="a-new-password\n")
    assert changed.returncode == 0, changed.stderr
    (stored,) = _row(path, "SELECT password_hash FROM users WHERE id = ?", user_id)
    assert verify_password("a-new-password", str(stored))
    assert _row(path, "SELECT COUNT(*) FROM web_sessions WHERE revoked_ms IS NULL") == (0,)

    off = users(url, "disable", email)
    assert off.returncode == 0, off.stderr
    assert _row(path, "SELECT disabled_ms IS NOT NULL FROM users WHERE id = ?", user_id) == (1,)
    assert _row(
        path, "SELECT COUNT(*) FROM api_tokens WHERE user_id = ? AND revoked_ms IS NULL", user_id
    ) == (0,)
    on = users(url, "enable", email)
    assert on.returncode == 0
    assert _row(path, "SELECT disabled_ms FROM users WHERE id = ?", user_id) == (None,)
    assert users(url, "disable", "nobody@example.jp").returncode == 2


def test_the_right_to_hear_recordings_is_given_and_taken(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    url = f"sqlite:///{path}"
    assert run_cli("demo", database_url=url).returncode == 0
    (adv,) = _row(path, "SELECT id FROM advertisers ORDER BY id")
    made = users(url, "create", "--email", "m@example.jp", "--role", "member",
                 "--advertiser", str(adv), stdin="a-password-1\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    right = "SELECT can_hear_recordings FROM users WHERE email = 'm@example.jp'"
    assert _row(path, right) == (0,)  # off for a new member
    given = users(url, "allow-recordings", "m@example.jp")
    assert given.returncode == 0 and "may hear" in given.stdout
    assert _row(path, right) == (1,)
    assert users(url, "deny-recordings", "m@example.jp").returncode == 0
    assert _row(path, right) == (0,)
    assert users(url, "allow-recordings", "nobody@example.jp").returncode == 2
