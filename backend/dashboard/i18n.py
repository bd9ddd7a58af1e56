"""Japanese and English: gettext catalogs, and how a request's language is chosen.

The messages live in ``backend/dashboard/locale/<lang>/LC_MESSAGES/messages.po`` (edited by
people, extracted by ``pybabel`` — ``make messages``) and are read from the compiled
``messages.mo`` next to each (committed, so a fresh clone runs without a build step; a test
fails when a ``.mo`` is older than its ``.po``). Message ids are stable keys such as
``nav.reports``; the English catalog holds the English text, so changing a word never
changes a template.

The language is, in order: the user's own setting (``users.locale``), the ``cp_lang`` cookie
set by the language switch, the browser's ``Accept-Language``, then English.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request

from attribution import reports

if TYPE_CHECKING:
    from backend.dashboard.logins import Viewer

LANGUAGES = ("en", "ja")
LANG_COOKIE = "cp_lang"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).with_name("locale")
# The report dimensions in the order the dashboard lists them (attribution.reports).
DIMENSION_ORDER = tuple(reports.DIMENSIONS)


def N_(msgid: str) -> str:
    """Mark a message id for ``pybabel extract`` where it is only looked up later."""
    return msgid


# Stored values and the message id of their label. Templates and code build ids like
# ``"status." + call.status`` at run time, which extraction cannot see: they are listed here
# (and the completeness test checks that every value the domain can store is).
LABELS: dict[str, dict[str, str]] = {
    # billing (attribution.billing): why a call is or is not billed, statement states, and
    # why a statement did not close
    "billing_reason": {
        "billable": N_("billing.reason.billable"),
        "blocked": N_("billing.reason.blocked"),
        "dispute_accepted": N_("billing.reason.dispute_accepted"),
        "disqualified": N_("billing.reason.disqualified"),
        "no_plan": N_("billing.reason.no_plan"),
        "not_answered": N_("billing.reason.not_answered"),
        "too_short": N_("billing.reason.too_short"),
        "repeat_caller": N_("billing.reason.repeat_caller"),
        "no_price": N_("billing.reason.no_price"),
        "removed": N_("billing.reason.removed"),
        "cap_or_fee": N_("billing.reason.cap_or_fee"),
    },
    "billing_status": {
        "open": N_("billing.status.open"),
        "closed": N_("billing.status.closed"),
        "sent": N_("billing.status.sent"),
    },
    # a call's history of changes (attribution.call_work): the field each entry changed
    "work_field": {
        "qualified": N_("work.field.qualified"),
        "qualified_by_hand": N_("work.field.qualified_by_hand"),
        "qualified_reason": N_("work.field.qualified_reason"),
        "note": N_("work.field.note"),
        "value_yen": N_("work.field.value_yen"),
        "outcome_id": N_("work.field.outcome_id"),
        "tags": N_("work.field.tags"),
    },
    # the billing audit trail (attribution.billing): "subject.action" of each line
    "billing_audit": {
        "dispute.open": N_("billing.audit.dispute.open"),
        "dispute.accepted": N_("billing.audit.dispute.accepted"),
        "dispute.rejected": N_("billing.audit.dispute.rejected"),
        "plan.add": N_("billing.audit.plan.add"),
        "statement.close": N_("billing.audit.statement.close"),
        "statement.send": N_("billing.audit.statement.send"),
    },
    # an error page's headline, by HTTP status (its reason and code follow it)
    "error_status": {
        "400": N_("error.status.400"),
        "401": N_("error.status.401"),
        "403": N_("error.status.403"),
        "404": N_("error.status.404"),
        "405": N_("error.status.405"),
        "409": N_("error.status.409"),
        "413": N_("error.status.413"),
        "415": N_("error.status.415"),
        "422": N_("error.status.422"),
        "429": N_("error.status.429"),
        "500": N_("error.status.500"),
        "503": N_("error.status.503"),
    },
    "dispute_status": {
        "open": N_("dispute.status.open"),
        "accepted": N_("dispute.status.accepted"),
        "rejected": N_("dispute.status.rejected"),
    },
    "billing_error": {
        "month": N_("billing.error.month"),
        "force": N_("billing.error.force"),
    },
    "price_kind": {
        "call": N_("billing.kind.call"),
        "minute": N_("billing.kind.minute"),
        "reserved": N_("billing.kind.reserved"),
    },
    # calls.status: the caller's leg (telephony.calls.PARENT_STATUS) and the forward's outcome
    "status": {
        "ringing": N_("status.ringing"),
        "in-progress": N_("status.in-progress"),
        "completed": N_("status.completed"),
        "answered": N_("status.answered"),
        "busy": N_("status.busy"),
        "no-answer": N_("status.no-answer"),
        "failed": N_("status.failed"),
        "canceled": N_("status.canceled"),
        "blocked": N_("status.blocked"),
    },
    # Call-flow steps (telephony.flowdoc.STEP_TYPES), ring modes, branches and weekdays
    "flow_step": {
        "schedule": N_("flow_step.schedule"),
        "ring": N_("flow_step.ring"),
        "menu": N_("flow_step.menu"),
        "queue": N_("flow_step.queue"),
        "message": N_("flow_step.message"),
        "voicemail": N_("flow_step.voicemail"),
        "sms": N_("flow_step.sms"),
        "hangup": N_("flow_step.hangup"),
    },
    # An sms step's recipients and when it is sent (telephony.flowdoc.SMS_WHEN)
    "sms_to": {"caller": N_("sms_to.caller"), "staff": N_("sms_to.staff")},
    "sms_when": {
        "always": N_("sms_when.always"),
        "missed": N_("sms_when.missed"),
        "answered": N_("sms_when.answered"),
    },
    "ring_mode": {
        "simultaneous": N_("ring_mode.simultaneous"),
        "sequential": N_("ring_mode.sequential"),
        "round_robin": N_("ring_mode.round_robin"),
    },
    "flow_branch": {
        "open": N_("flow_branch.open"),
        "closed": N_("flow_branch.closed"),
        "holiday": N_("flow_branch.holiday"),
        "no_answer": N_("flow_branch.no_answer"),
        "busy": N_("flow_branch.busy"),
        "default": N_("flow_branch.default"),
        "next": N_("flow_branch.next"),
    },
    "weekday": {
        "mon": N_("weekday.mon"),
        "tue": N_("weekday.tue"),
        "wed": N_("weekday.wed"),
        "thu": N_("weekday.thu"),
        "fri": N_("weekday.fri"),
        "sat": N_("weekday.sat"),
        "sun": N_("weekday.sun"),
    },
    # call_journey.what (telephony.journey.KINDS): a call's way through its call flow
    "journey": {
        "start": N_("journey.start"),
        "schedule": N_("journey.schedule"),
        "ring": N_("journey.ring"),
        "answered": N_("journey.answered"),
        "no-answer": N_("journey.no-answer"),
        "busy": N_("journey.busy"),
        "failed": N_("journey.failed"),
        "canceled": N_("journey.canceled"),
        "menu": N_("journey.menu"),
        "menu_retry": N_("journey.menu_retry"),
        "queue": N_("journey.queue"),
        "queue_left": N_("journey.queue_left"),
        "message": N_("journey.message"),
        "voicemail_prompt": N_("journey.voicemail_prompt"),
        "voicemail": N_("journey.voicemail"),
        "sms": N_("journey.sms"),
        "sms_sent": N_("journey.sms_sent"),
        "hangup": N_("journey.hangup"),
        "fallback": N_("journey.fallback"),
    },
    # sessions.channel (attribution.sources.CHANNELS) and channels named by rules / imports
    "channel": {
        "paid_search": N_("channel.paid_search"),
        "organic_search": N_("channel.organic_search"),
        "paid_social": N_("channel.paid_social"),
        "social": N_("channel.social"),
        "display": N_("channel.display"),
        "email": N_("channel.email"),
        "referral": N_("channel.referral"),
        "direct": N_("channel.direct"),
        "affiliate": N_("channel.affiliate"),
        "offline": N_("channel.offline"),
    },
    "match": {
        "lease": N_("match.lease"),
        "repeat_caller": N_("match.repeat_caller"),
        "ambiguous": N_("match.ambiguous"),
        "overflow": N_("match.overflow"),
        "code": N_("match.code"),
        "static_source": N_("match.static_source"),
        "none": N_("match.none"),
    },
    # call_outcomes.kind, and the built-in outcomes' labels ("@won": attribution.call_work)
    "outcome": {
        "won": N_("outcome.won"),
        "open": N_("outcome.open"),
        "lost": N_("outcome.lost"),
    },
    # calls.code_kind: what the digits heard named (attribution.codes)
    "code_kind": {
        "visit": N_("code_kind.visit"),
        "fixed": N_("code_kind.fixed"),
        "none": N_("code_kind.none"),
    },
    "confidence": {
        "exact": N_("confidence.exact"),
        "high": N_("confidence.high"),
        "medium": N_("confidence.medium"),
        "low": N_("confidence.low"),
    },
    "reason": {
        "code": N_("reason.code"),
        "fixed_code": N_("reason.fixed_code"),
        "caller_before": N_("reason.caller_before"),
        "caller_before_other_number": N_("reason.caller_before_other_number"),
        "page_open": N_("reason.page_open"),
        "page_closed": N_("reason.page_closed"),
        "grace": N_("reason.grace"),
        "late_call_window": N_("reason.late_call_window"),
        "page_closed_late_call": N_("reason.page_closed_late_call"),
        "caller_before_uncertain": N_("reason.caller_before_uncertain"),
        "several_holders": N_("reason.several_holders"),
        "no_holder": N_("reason.no_holder"),
    },
    "dim": {
        "channel": N_("dim.channel"),
        "source": N_("dim.source"),
        "campaign": N_("dim.campaign"),
        "ad_group": N_("dim.ad_group"),
        "keyword": N_("dim.keyword"),
        "match_type": N_("dim.match_type"),
        "landing_page": N_("dim.landing_page"),
        "device": N_("dim.device"),
        # the cost page's levels (attribution.cost_report.LEVELS) add one of their own
        "keyword_match": N_("dim.keyword_match"),
    },
    # sessions.match_type as attribution.sources normalises it
    "match_type": {
        "exact": N_("match_type.exact"),
        "phrase": N_("match_type.phrase"),
        "broad": N_("match_type.broad"),
    },
    "numbers.kind": {
        "pool": N_("numbers.kind.pool"),
        "source": N_("numbers.kind.source"),
        "overflow": N_("numbers.kind.overflow"),
    },
    "numbers.status": {
        "active": N_("numbers.status.active"),
        "retiring": N_("numbers.status.retiring"),
        "retired": N_("numbers.status.retired"),
    },
    "rules.kind": {
        "param": N_("rules.kind.param"),
        "referrer": N_("rules.kind.referrer"),
        "source": N_("rules.kind.source"),
    },
    "rules.action": {
        "number": N_("rules.action.number"),
        "pool": N_("rules.action.pool"),
        "original": N_("rules.action.original"),
    },
    "blocked.kind": {"exact": N_("blocked.kind.exact"), "prefix": N_("blocked.kind.prefix")},
    "notify.kind": {"webhook": N_("notify.kind.webhook"), "email": N_("notify.kind.email")},
    "notify.event": {
        "started": N_("notify.event.started"),
        "completed": N_("notify.event.completed"),
        "reservation": N_("notify.event.reservation"),
    },
    "users.role": {"admin": N_("users.role.admin"), "member": N_("users.role.member")},
    "start": {
        "advertiser": N_("start.advertiser"),
        "advertiser_help": N_("start.advertiser_help"),
        "site": N_("start.site"),
        "site_help": N_("start.site_help"),
        "targets": N_("start.targets"),
        "targets_help": N_("start.targets_help"),
        "numbers": N_("start.numbers"),
        "numbers_help": N_("start.numbers_help"),
        "tag": N_("start.tag"),
        "tag_help": N_("start.tag_help"),
        "call": N_("start.call"),
        "call_help": N_("start.call_help"),
    },
}

# Ids named in template lists (navigation, table columns) rather than in a t("…") call.
NAMED_IN_LISTS = (
    N_("nav.reports"),
    N_("nav.calls"),
    N_("nav.live"),
    N_("nav.pools"),
    N_("nav.advertisers"),
    N_("nav.billing"),
    N_("nav.settings"),
    N_("nav.sites"),
    N_("nav.numbers"),
    N_("nav.blocked"),
    N_("nav.notifications"),
    N_("nav.tokens"),
    N_("nav.batches"),
    N_("nav.users"),
    N_("nav.dead_letters"),
    N_("nav.outcomes"),
    N_("nav.analysis"),
    N_("col.sessions"),
    N_("col.calls"),
    N_("col.qualified"),
    N_("col.first_time"),
    N_("col.conversion"),
)


@lru_cache(maxsize=8)
def catalog(lang: str) -> gettext.GNUTranslations:
    """The compiled catalog of ``lang`` (English for a language callpath does not have)."""
    if lang not in LANGUAGES:
        lang = "en"
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with path.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def _pick(accept: str) -> str | None:
    best: tuple[float, str] | None = None
    for part in accept.split(",")[:20]:
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best and best[0] > 0 else None


def choose(request: Request, viewer: Viewer | None) -> str:
    """The language of this response: user setting, cookie, Accept-Language, English."""
    if viewer is not None and viewer.locale in LANGUAGES:
        return viewer.locale
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return _pick(request.headers.get("accept-language", "")[:500]) or "en"


def translator(lang: str) -> Callable[[str], str]:
    """``t(msgid)`` for one language; an unknown id shows itself (and a test catches it)."""
    return catalog(lang).gettext


def label(t: Callable[[str], str], group: str, value: str | None) -> str:
    """The words for a stored value of ``group`` (a key of :data:`LABELS`, or a report
    dimension: a channel in words, a keyword or campaign as itself).

    A value without a label (a channel typed into a rule, a status a future provider sends)
    reads as itself rather than as a message id; an empty one reads as '(none)'.
    """
    if not value:
        return t("none")
    msgid = LABELS.get(group, {}).get(value)
    return t(msgid) if msgid else value


# Who did something, as audit trails keep it: "user 7 (dashboard)", "user 7 (token 3)", "cli".
_ACTOR = re.compile(r"user ([0-9]+) \((?:dashboard|token ([0-9]+))\)")


def actor(t: Callable[[str], str], text: str) -> str:
    """An audit trail's "who" in the viewer's words; anything else (a rule's name) as is."""
    if text == "cli":
        return t("actor.cli")
    found = _ACTOR.fullmatch(text or "")
    if found is None:
        return text
    if found[2] is None:
        return t("actor.dashboard").format(user=found[1])
    return t("actor.token").format(user=found[1], token=found[2])


def value_label(t: Callable[[str], str], dimension: str, key: str | None) -> str:
    """How a report key reads: '(none)' for empty, known channels in words, else the key."""
    return label(t, dimension, key)
