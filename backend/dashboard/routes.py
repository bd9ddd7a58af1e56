"""Every dashboard URL. Each handler checks login, CSRF and the viewer's advertiser scope."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backend.assets import STATIC_DIR
from backend.dashboard import (
    actions_view,
    admin_view,
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

GET, POST, BOTH = ["GET"], ["POST"], ["GET", "POST"]

routes: list[BaseRoute] = [
    Route("/login", auth_view.login, methods=BOTH, name="login"),
    Route("/logout", auth_view.logout, methods=BOTH, name="logout"),
    Route("/setup", setup_view.setup, methods=BOTH, name="setup"),
    Route("/dashboard", reports_view.reports_page, methods=GET, name="dashboard"),
    Route("/dashboard/reports", reports_view.reports_page, methods=GET),
    Route("/dashboard/reports/export", reports_view.export_table, methods=GET),
    Route("/dashboard/reservations", reservations_view.reservations_page, methods=GET),
    Route("/dashboard/reservations/export", reservations_view.reservations_csv, methods=GET),
    Route("/dashboard/test-call", checklist.test_call, methods=POST),
    Route("/dashboard/advertisers", reports_view.advertisers_page, methods=GET),
    Route("/dashboard/advertisers", admin_view.create_advertiser, methods=POST),
    Route("/dashboard/calls", calls_view.calls_page, methods=GET),
    Route("/dashboard/calls/export", calls_view.export_paths, methods=GET),
    Route("/dashboard/calls/{id:int}", calls_view.call_page, methods=GET),
    Route("/dashboard/calls/{id:int}/work", call_work_view.work_call, methods=POST),
    Route("/dashboard/calls/{id:int}/dispute", billing_view.dispute_call, methods=POST),
    Route("/dashboard/billing", billing_view.statements_page, methods=GET),
    Route("/dashboard/billing/statement", billing_view.statement_page, methods=GET),
    Route("/dashboard/billing/statement.csv", billing_view.statement_csv, methods=GET),
    Route("/dashboard/billing/statement/close", billing_view.close_statement, methods=POST),
    Route("/dashboard/billing/statement/send", billing_view.send_statement, methods=POST),
    Route("/dashboard/billing/plans", billing_view.plans_page, methods=BOTH),
    Route("/dashboard/billing/disputes", billing_view.disputes_page, methods=BOTH),
    Route("/dashboard/billing/revenue", billing_view.revenue_page, methods=GET),
    Route("/dashboard/live", calls_view.live_page, methods=GET),
    Route("/dashboard/live/stream", calls_view.live_stream, methods=GET),
    Route("/dashboard/pools", settings_view.pools_page, methods=GET),
    Route("/dashboard/pools/{id:int}", settings_view.pool_update, methods=POST),
    Route("/dashboard/settings/sites", settings_view.sites_page, methods=BOTH),
    Route("/dashboard/settings/sites/{id:int}", settings_view.site_page, methods=BOTH),
    Route("/dashboard/settings/sites/{id:int}/targets", settings_view.add_target, methods=POST),
    Route("/dashboard/pools/{id:int}/advertiser", targets_view.target_advertiser, methods=POST),
    Route(
        "/dashboard/settings/sites/{id:int}/numbers-mode",
        settings_view.numbers_mode,
        methods=POST,
    ),
    Route("/dashboard/settings/sites/{id:int}/rules", rules_view.site_rules, methods=GET),
    Route("/dashboard/settings/targets/{id:int}/flow", flows_view.flow_page, methods=GET),
    Route(
        "/dashboard/settings/targets/{id:int}/flow/add/{kind:str}",
        flows_view.add_step,
        methods=POST,
    ),
    Route(
        "/dashboard/settings/targets/{id:int}/flow/steps/{step:str}",
        flows_view.save_step,
        methods=POST,
    ),
    Route("/dashboard/settings/targets/{id:int}/flow/rollback", flows_view.rollback, methods=POST),
    # A tracking number's (n-<id>) or a source's (s-<hex>) flow of the target.
    Route(
        "/dashboard/settings/targets/{id:int}/flow/{which:str}", flows_view.flow_page, methods=GET
    ),
    Route(
        "/dashboard/settings/targets/{id:int}/flow/{which:str}/add/{kind:str}",
        flows_view.add_step,
        methods=POST,
    ),
    Route(
        "/dashboard/settings/targets/{id:int}/flow/{which:str}/steps/{step:str}",
        flows_view.save_step,
        methods=POST,
    ),
    Route("/dashboard/settings/sites/{id:int}/rules", rules_view.add_source_rule, methods=POST),
    Route(
        "/dashboard/settings/sites/{id:int}/qualification",
        rules_view.set_qualification,
        methods=POST,
    ),
    Route("/dashboard/settings/rules/{id:int}/delete", rules_view.delete_source_rule, methods=POST),
    Route("/dashboard/settings/outcomes", call_work_view.outcomes_page, methods=BOTH),
    Route("/dashboard/settings/blocked", rules_view.blocked_page, methods=BOTH),
    Route("/dashboard/settings/blocked/{id:int}/delete", rules_view.unblock, methods=POST),
    Route("/dashboard/settings/notifications", rules_view.notifications_page, methods=BOTH),
    Route(
        "/dashboard/settings/notifications/{id:int}/remove",
        rules_view.remove_notification,
        methods=POST,
    ),
    Route("/dashboard/settings/numbers", numbers_view.numbers_page, methods=BOTH),
    Route("/dashboard/settings/numbers/bulk", numbers_view.bulk_numbers, methods=POST),
    Route("/dashboard/settings/numbers/import", numbers_view.import_numbers, methods=POST),
    Route("/dashboard/settings/numbers/{id:int}/retire", settings_view.retire_number, methods=POST),
    Route("/dashboard/settings/numbers/codes", codes_view.add_code, methods=POST),
    Route(
        "/dashboard/settings/numbers/codes/{id:int}/delete", codes_view.delete_code, methods=POST
    ),
    Route("/dashboard/settings/users", admin_view.users_page, methods=BOTH),
    Route("/dashboard/settings/users/{id:int}", admin_view.user_update, methods=POST),
    Route("/dashboard/settings/tokens", admin_view.tokens_page, methods=BOTH),
    Route("/dashboard/settings/dead-letters", dead_letters_view.dead_letters_page, methods=GET),
    Route("/dashboard/settings/tokens/{id:int}/revoke", admin_view.revoke_token, methods=POST),
    Route("/dashboard/conversions/batches", batches_view.batches_page, methods=GET),
    Route("/dashboard/conversions/batches/new", batches_view.new_batch, methods=POST),
    Route("/dashboard/conversions/batches/{id:int}/file", batches_view.batch_file, methods=GET),
    Route("/dashboard/conversions/batches/{id:int}/void", batches_view.void_batch, methods=POST),
    Route("/dashboard/settings/conversions", actions_view.actions_page, methods=GET),
    Route("/dashboard/settings/conversions", actions_view.add_action, methods=POST),
    Route(
        "/dashboard/settings/conversions/{id:int}/export", actions_view.export_action, methods=POST
    ),
    Route(
        "/dashboard/settings/conversions/{id:int}/adjustments",
        actions_view.adjust_action,
        methods=POST,
    ),
    Route("/dashboard/settings/conversions/{id:int}/feeds", actions_view.new_feed, methods=POST),
    Route(
        "/dashboard/settings/conversion-feeds/{id:int}/revoke",
        actions_view.revoke_feed,
        methods=POST,
    ),
    Route("/dashboard/costs", costs_view.costs_page, methods=GET),
    Route("/dashboard/costs/import", costs_view.import_costs, methods=POST),
    Route("/dashboard/account", auth_view.account, methods=BOTH),
    Route("/dashboard/locale", auth_view.switch_language, methods=POST),
    Mount(
        "/dashboard/static",
        StaticFiles(directory=STATIC_DIR / "dashboard", check_dir=False),
        name="dashboard-static",
    ),
    # Last: any other /dashboard address is a 404 page with the dashboard's headers.
    Route("/dashboard/{rest:path}", settings_view.not_found, methods=GET),
]
