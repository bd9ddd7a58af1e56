#!/usr/bin/env python3
"""Asterisk AGI script: ask callpath where a call to a tracking number goes, and report
how it ended. Standard library only; copy it to /var/lib/asterisk/agi-bin/.

    AGI(callpath_agi.py,start)   sets CALLPATH_ACTION (forward | reject | fallback),
                                 CALLPATH_FORWARD (the number to dial), CALLPATH_TIMEOUT
    AGI(callpath_agi.py,end)     in a hangup handler: sends DIALSTATUS and ANSWEREDTIME

Configuration comes from the environment Asterisk runs with (or /etc/callpath-agi.env):
CALLPATH_URL (e.g. https://calls.example.com), CALLPATH_CALLS_WEBHOOK_SECRET, and
CALLPATH_REGION (default JP). If callpath cannot be reached within 2 seconds the script
sets CALLPATH_ACTION=fallback and the dialplan dials the business directly: a caller is
never stuck because of callpath.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


def read_env(stream) -> dict[str, str]:
    """The agi_* variables Asterisk writes first, up to a blank line."""
    env = {}
    for line in stream:
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(":")
        env[name.strip()] = value.strip()
    return env


def command(text: str) -> str:
    """Send one AGI command; return the value in parentheses or after result=."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    reply = sys.stdin.readline().strip()
    if "(" in reply and reply.endswith(")"):
        return reply[reply.index("(") + 1 : -1]
    return reply.partition("result=")[2].split(" ")[0]


def set_var(name: str, value: str) -> None:
    command(f'SET VARIABLE {name} "{value}"')


def post(event: dict[str, object]) -> dict[str, object]:
    """POST a signed event to callpath's /webhooks/calls and return its JSON answer."""
    url = os.environ["CALLPATH_URL"].rstrip("/") + "/webhooks/calls"
    secret = os.environ["CALLPATH_CALLS_WEBHOOK_SECRET"].encode()
    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    signature = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            "x-callpath-timestamp": ts,
            "x-callpath-signature": "v1=" + signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def main(mode: str) -> int:
    agi = read_env(sys.stdin)
    call_id = agi.get("agi_uniqueid", "")
    base = {
        "provider": "asterisk",
        "call_id": call_id,
        "region": os.environ.get("CALLPATH_REGION", "JP"),
    }
    if mode == "start":
        event = {
            **base,
            "event": "call.start",
            "from": agi.get("agi_callerid", ""),
            "to": agi.get("agi_dnid") or agi.get("agi_extension", ""),
        }
        try:
            answer = post(event)
        except (OSError, ValueError, KeyError):
            set_var("CALLPATH_ACTION", "fallback")
            return 0
        action = str(answer.get("action") or "fallback")
        set_var("CALLPATH_ACTION", action)
        if action == "forward":
            set_var("CALLPATH_FORWARD", str(answer["forward_to"]))
            set_var("CALLPATH_TIMEOUT", str(answer.get("timeout", 30)))
        return 0
    status = command("GET VARIABLE DIALSTATUS").lower()
    talk = command("GET VARIABLE ANSWEREDTIME")
    duration = command("GET VARIABLE CDR(duration)")
    statuses = {
        "answer": "answered",
        "noanswer": "no-answer",
        "busy": "busy",
        "cancel": "canceled",
        "congestion": "failed",
        "chanunavail": "failed",
    }
    event = {**base, "event": "call.end", "status": statuses.get(status, "completed")}
    if talk.isdigit():
        event["talk"] = int(talk)
    if duration.isdigit():
        event["duration"] = int(duration)
    try:
        post(event)
    except (OSError, ValueError, KeyError):
        pass  # the call is over; callpath can take the CDR import later
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "start"))
