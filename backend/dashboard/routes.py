"""Every dashboard URL. Each handler checks login, CSRF and the viewer's advertiser scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backend.assets import STATIC_DIR
from backend.dashboard import (
    actions_view,
    admin_view,
    analysis_view,
    auth_view,
    batches_view,
    billing_view,
    call_work_view,
    calls_view,
    checklist,
    codes_view,
    costs_view,
    dead_letters_view,
    flows_view,
    numbers_view,
    reports_view,
    reservations_view,
    rules_view,
    settings_view,
    setup_view,
    targets_view,
)


def get(path: str, endpoint: Callable[..., Any], name: str | None = None) -> Route:
    """A page or a download."""
    return Route(path, endpoint, methods=["GET"], name=name)


def post(path: str, endpoint: Callable[..., Any]) -> Route:
    """A form's action (CSRF-checked by the handler's ``@page``)."""
    return Route(path, endpoint, methods=["POST"])


def get_post(path: str, endpoint: Callable[..., Any], name: str | None = None) -> Route:
    """A page with its own form: GET shows it, POST sends it."""
    return Route(path, endpoint, methods=["GET", "POST"], name=name)


routes: list[BaseRoute] = [
    get_post("/login", auth_view.login, name="login"),
    get_post("/logout", auth_view.logout, name="logout"),
    get_post("/setup", setup_view.setup, name="setup"),
    get("/dashboard", reports_view.reports_page, name="dashboard"),
    get("/dashboard/reports", reports_view.reports_page),
    get("/dashboard/reports/export", reports_view.export_table),
    get("/dashboard/reservations", reservations_view.reservations_page),
    get("/dashboard/reservations/export", reservations_view.reservations_csv),
    post("/dashboard/test-call", checklist.test_call),
    get("/dashboard/advertisers", reports_view.advertisers_page),
    post("/dashboard/advertisers", admin_view.create_advertiser),
    get("/dashboard/calls", calls_view.calls_page),
    get("/dashboard/calls/export", calls_view.export_paths),
    get("/dashboard/calls/{id:int}", calls_view.call_page),
    post("/dashboard/calls/{id:int}/work", call_work_view.work_call),
    post("/dashboard/calls/{id:int}/dispute", billing_view.dispute_call),
    get("/dashboard/billing", billing_view.statements_page),
    get("/dashboard/billing/statement", billing_view.statement_page),
    get("/dashboard/billing/statement.csv", billing_view.statement_csv),
    post("/dashboard/billing/statement/close", billing_view.close_statement),
    post("/dashboard/billing/statement/send", billing_view.send_statement),
    get_post("/dashboard/billing/plans", billing_view.plans_page),
    get_post("/dashboard/billing/disputes", billing_view.disputes_page),
    get("/dashboard/billing/revenue", billing_view.revenue_page),
    get("/dashboard/live", calls_view.live_page),
    get("/dashboard/live/stream", calls_view.live_stream),
    get("/dashboard/pools", settings_view.pools_page),
    post("/dashboard/pools/{id:int}", settings_view.pool_update),
    get_post("/dashboard/settings/sites", settings_view.sites_page),
    get_post("/dashboard/settings/sites/{id:int}", settings_view.site_page),
    post("/dashboard/settings/sites/{id:int}/targets", settings_view.add_target),
    post("/dashboard/pools/{id:int}/advertiser", targets_view.target_advertiser),
    post("/dashboard/settings/sites/{id:int}/numbers-mode", settings_view.numbers_mode),
    get("/dashboard/settings/sites/{id:int}/rules", rules_view.site_rules),
    get("/dashboard/settings/targets/{id:int}/flow", flows_view.flow_page),
    post("/dashboard/settings/targets/{id:int}/flow/add/{kind:str}", flows_view.add_step),
    post("/dashboard/settings/targets/{id:int}/flow/steps/{step:str}", flows_view.save_step),
    post("/dashboard/settings/targets/{id:int}/flow/rollback", flows_view.rollback),
    # A tracking number's (n-<id>) or a source's (s-<hex>) flow of the target.
    get("/dashboard/settings/targets/{id:int}/flow/{which:str}", flows_view.flow_page),
    post(
        "/dashboard/settings/targets/{id:int}/flow/{which:str}/add/{kind:str}", flows_view.add_step
    ),
    post(
        "/dashboard/settings/targets/{id:int}/flow/{which:str}/steps/{step:str}",
        flows_view.save_step,
    ),
    post("/dashboard/settings/sites/{id:int}/rules", rules_view.add_source_rule),
    post("/dashboard/settings/sites/{id:int}/qualification", rules_view.set_qualification),
    post("/dashboard/settings/rules/{id:int}/delete", rules_view.delete_source_rule),
    get_post("/dashboard/settings/outcomes", call_work_view.outcomes_page),
    get("/dashboard/settings/analysis", analysis_view.analysis_index),
    get("/dashboard/settings/analysis/{id:int}", analysis_view.analysis_page),
    post("/dashboard/settings/analysis/{id:int}/rules", analysis_view.add_rule),
    post("/dashboard/settings/analysis/{id:int}/rules/{rule:int}", analysis_view.edit_rule),
    post(
        "/dashboard/settings/analysis/{id:int}/rules/{rule:int}/retire", analysis_view.retire_rule
    ),
    post("/dashboard/settings/analysis/{id:int}/retention", analysis_view.set_retention),
    get_post("/dashboard/settings/blocked", rules_view.blocked_page),
    post("/dashboard/settings/blocked/{id:int}/delete", rules_view.unblock),
    get_post("/dashboard/settings/notifications", rules_view.notifications_page),
    post("/dashboard/settings/notifications/{id:int}/remove", rules_view.remove_notification),
    get_post("/dashboard/settings/numbers", numbers_view.numbers_page),
    post("/dashboard/settings/numbers/bulk", numbers_view.bulk_numbers),
    post("/dashboard/settings/numbers/import", numbers_view.import_numbers),
    post("/dashboard/settings/numbers/{id:int}/retire", settings_view.retire_number),
    post("/dashboard/settings/numbers/codes", codes_view.add_code),
    post("/dashboard/settings/numbers/codes/{id:int}/delete", codes_view.delete_code),
    get_post("/dashboard/settings/users", admin_view.users_page),
    post("/dashboard/settings/users/{id:int}", admin_view.user_update),
    get_post("/dashboard/settings/tokens", admin_view.tokens_page),
    get("/dashboard/settings/dead-letters", dead_letters_view.dead_letters_page),
    post("/dashboard/settings/tokens/{id:int}/revoke", admin_view.revoke_token),
    get("/dashboard/conversions/batches", batches_view.batches_page),
    post("/dashboard/conversions/batches/new", batches_view.new_batch),
    get("/dashboard/conversions/batches/{id:int}/file", batches_view.batch_file),
    post("/dashboard/conversions/batches/{id:int}/void", batches_view.void_batch),
    get("/dashboard/settings/conversions", actions_view.actions_page),
    post("/dashboard/settings/conversions", actions_view.add_action),
    post("/dashboard/settings/conversions/{id:int}/export", actions_view.export_action),
    post("/dashboard/settings/conversions/{id:int}/adjustments", actions_view.adjust_action),
    post("/dashboard/settings/conversions/{id:int}/feeds", actions_view.new_feed),
    post("/dashboard/settings/conversion-feeds/{id:int}/revoke", actions_view.revoke_feed),
    get("/dashboard/costs", costs_view.costs_page),
    post("/dashboard/costs/import", costs_view.import_costs),
    get_post("/dashboard/account", auth_view.account),
    post("/dashboard/locale", auth_view.switch_language),
    Mount(
        "/dashboard/static",
        StaticFiles(directory=STATIC_DIR / "dashboard", check_dir=False),
        name="dashboard-static",
    ),
    # Last: any other /dashboard address is a 404 page with the dashboard's headers.
    get("/dashboard/{rest:path}", settings_view.not_found),
]
