"""The business rules the database enforces with triggers, by the name each error carries.

Every rule raises SQLSTATE 23514 (check_violation, so drivers report an integrity
error) with the rule's name as the whole primary message and ``key=value`` pairs in
DETAIL; applications match on the name, never on prose. These names are part of the
shared schema's contract, like constraint names.
"""

from __future__ import annotations

import re

SQLSTATE = "23514"

RULES: dict[str, str] = {
    "insufficient_stock": "a movement (a sale) would take a product's stock below zero; "
    "DETAIL names product_id, available and requested",
    "stock_is_ledger_projection": "products.stock is written only by stock movements; "
    "a new product starts at 0",
    "ledger_is_append_only": "stock movements are never updated, deleted or truncated; "
    "correct with an adjust movement",
    "ledger_reason_reserved": "sale and cancel movements are written only by the database",
    "order_not_open": "order lines are added only to an order that is still placed",
    "order_lines_are_immutable": "order lines are never updated or deleted",
    "order_is_final": "a shipped or cancelled order refuses every update",
    "invalid_status_transition": "status moves only placed -> paid|cancelled, "
    "paid -> shipped|cancelled",
    "status_change_not_allowed": "the storefront may only cancel an order; staff mark "
    "orders paid and shipped",
    "order_has_no_lines": "an order is placed with its lines, in one transaction",
    "order_already_placed": "a line is added only in the transaction that places the order",
    "unknown_subscription": "events.poll/ack name a subscription that does not exist",
    "not_your_subscription": "a role polls or acknowledges only its own subscriptions",
    "ack_beyond_horizon": "a cursor never moves past events whose transaction may still run",
    # identity (0006): staff sessions
    "staff_session_invalid": "a staff session needs a sha256 hex key hash, a username, "
    "Django permission names and an expiry at most 31 days away; DETAIL names the field",
    "staff_session_exists": "a staff session is never taken over or extended: a new login "
    "has a new session key",
}

# Raised with SQLSTATE 42501 (insufficient_privilege) by identity's functions when the
# calling role's app (shop.app_roles) is not the one they serve.
CALLER_NOT_ALLOWED = "staff_session_caller_not_allowed"

# Every function the migrations create in the owner's namespaces, as regprocedure text.
# Anything else there is drift (``mergepoint check``) and reconciliation drops it: a
# function in a namespace the owner's sessions trust is a way in (docs/design.md, "Trust
# boundary"). tests/schema checks that the head revision creates exactly these.
FUNCTIONS = frozenset(
    {
        "shop.products_guard()",
        "shop.stock_movements_guard_reason()",
        "shop.stock_movements_apply()",
        "shop.stock_movements_append_only()",
        "shop.order_lines_sell()",
        "shop.order_lines_immutable()",
        "shop.orders_guard()",
        "shop.orders_return_stock()",
        # 0004
        "shop.writer_app()",
        "shop.movement_actor()",
        "shop.stock_movements_stamp()",
        "shop.order_lines_price()",
        # 0005
        "events.emit(text,bigint,jsonb)",
        "events.order_placed()",
        "events.order_status_changed()",
        "events.price_changed()",
        "events.poll(text,integer)",
        "events.ack(text,xid8,bigint)",
        # 0006
        "identity.begin_staff_session(text,bigint,text,boolean,text[],timestamp with time zone)",
        "identity.end_staff_session(text)",
        "identity.end_user_staff_sessions(bigint)",
        "identity.staff_session(text)",
    }
)

# procrastinate's functions in ``tasks`` (alembic 0007: the pinned 3.10.0's schema.sql).
# tests/schema/test_tasks.py checks that a fresh install of the pinned version creates
# exactly these; a procrastinate upgrade whose migrations change them updates this list.
TASKS_FUNCTIONS = frozenset(
    {
        "tasks.procrastinate_cancel_job_v1(bigint,boolean,boolean)",
        "tasks.procrastinate_defer_jobs_v1(tasks.procrastinate_job_to_defer_v1[])",
        "tasks.procrastinate_defer_periodic_job_v2(character varying,character varying,"
        "character varying,character varying,integer,character varying,bigint,jsonb)",
        "tasks.procrastinate_fetch_job_v2(character varying[],bigint)",
        "tasks.procrastinate_finish_job_v1(bigint,tasks.procrastinate_job_status,boolean)",
        "tasks.procrastinate_notify_queue_abort_job_v1()",
        "tasks.procrastinate_notify_queue_job_inserted_v1()",
        "tasks.procrastinate_prune_stalled_workers_v1(double precision)",
        "tasks.procrastinate_register_worker_v1()",
        "tasks.procrastinate_retry_job_v1(bigint,timestamp with time zone,integer,"
        "character varying,character varying)",
        "tasks.procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,"
        "character varying,character varying)",
        "tasks.procrastinate_trigger_abort_requested_events_procedure_v1()",
        "tasks.procrastinate_trigger_function_scheduled_events_v1()",
        "tasks.procrastinate_trigger_function_status_events_insert_v1()",
        "tasks.procrastinate_trigger_function_status_events_update_v1()",
        "tasks.procrastinate_unlink_periodic_defers_v1()",
        "tasks.procrastinate_unregister_worker_v1(bigint)",
        "tasks.procrastinate_update_heartbeat_v1(bigint)",
    }
)

FUNCTIONS = FUNCTIONS | TASKS_FUNCTIONS

_PAIR = re.compile(r"(\w+)=(\S+)")


def parse_detail(detail: str | None) -> dict[str, str]:
    """``'product_id=4 available=1 requested=2'`` -> ``{'product_id': '4', ...}``."""
    return dict(_PAIR.findall(detail or ""))
