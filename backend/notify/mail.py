"""Email notifications through SMTP (stdlib ``smtplib`` on a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail."""

    host: str
    port: int = 25
    username: str = ""
    password: str = ""
    starttls: bool = False
    sender: str = "callpath@localhost"
    timeout_s: float = 15.0


def _when(ms: int | None, tz: str) -> str:
    if not ms:
        return "-"
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .astimezone(ZoneInfo(tz))
        .strftime("%Y-%m-%d %H:%M:%S %Z")
    )


def compose(call: dict[str, Any], *, to: str, sender: str, event: str, tz: str) -> EmailMessage:
    """The message announcing one call (Japanese first, the facts in a table after)."""
    source = call.get("source_label") or " / ".join(
        v for v in (call.get("source"), call.get("medium")) if v
    )
    voicemail = event == "call.voicemail"
    subject = f"[callpath] {'留守番電話' if voicemail else '新着電話'} {call['tracking_number']}"
    if source:
        subject += f" ({source})"
    lines = [
        "留守番電話にメッセージがあります。 / A new voicemail."
        if voicemail
        else "新しいお電話がありました。 / A new call.",
        "",
        f"着信日時 / started:   {_when(call['started_ms'], tz)}",
        f"発信者 / caller:      {call['caller'] or '-'}",
        f"着信番号 / number:    {call['tracking_number']}",
        f"転送先 / forwarded:   {call['forwarded_to'] or '-'}",
        f"状態 / status:        {call['status']}",
        f"通話時間 / talk:      {call['talk_s']} s",
        f"流入元 / source:      {source or '-'}",
        f"キャンペーン:         {call.get('campaign') or '-'}",
        f"キーワード / keyword: {call.get('keyword') or '-'}",
        f"照合 / match:         {call['match_method']}",
    ]
    if call.get("menu_path"):
        lines.append(f"メニュー / menu:       {call['menu_path']}")
    if call.get("voicemail_url"):
        lines.append(f"留守電 / voicemail:    {call['voicemail_url']}")
    if call.get("recording_url"):
        lines.append(f"録音 / recording:     {call['recording_url']}")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["X-Callpath-Event"] = event
    message["X-Callpath-Call"] = str(call["id"])
    message.set_content("\n".join(lines) + "\n")
    return message


def compose_event(
    name: str, fields: dict[str, Any], *, to: str, sender: str, title: str
) -> EmailMessage:
    """A message announcing an event that is not a call (a reserved call's): ``title``
    as the subject, then one line per field."""
    message = EmailMessage()
    message["Subject"] = f"[callpath] {title}"
    message["From"] = sender
    message["To"] = to
    message["X-Callpath-Event"] = name
    width = max((len(k) for k in fields), default=0)
    lines = [f"{k.ljust(width)}  {'-' if v is None else v}" for k, v in fields.items()]
    message.set_content(title + "\n\n" + "\n".join(lines) + "\n")
    return message


def _send(config: SmtpConfig, message: EmailMessage) -> None:
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(message)


async def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Send one message; raises ``smtplib.SMTPException`` / ``OSError`` on failure."""
    await asyncio.to_thread(_send, config, message)
