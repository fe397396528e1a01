"""A customer's data as a file: requested over HTTP, made by a job, fetched when done.

``request_export`` inserts a pending export and defers its job in the request's own
transaction (procrastinate's SQL API on the SQLAlchemy connection's psycopg connection):
if the request's transaction rolls back, no job runs. At most one export is pending per
customer (asking again answers the pending one). ``build`` (the job) reads the customer's
profile, orders and notifications and stores the document in one short transaction;
``get`` serves it until it expires (``TTL``), and ``prune`` (a periodic job) deletes
expired ones.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from apps.flask_app import shop
from apps.flask_app.errors import ApiError
from apps.flask_app.models import DataExport, ExportPending, Notification
from apps.flask_app.tables import data_exports, notifications

TTL = timedelta(days=1)  # how long a finished export can be fetched
PAGE = 1000  # orders read per query while building


def _not_found(public_id: str) -> ApiError:
    return ApiError(
        404,
        "export_not_found",
        f"no export {public_id}: it never existed, is another customer's, or expired"
        " (request a new one: POST /api/customers/me/export)",
        {"export_id": public_id},
    )


def request_export(conn: sa.Connection, customer_id: int) -> tuple[str, bool]:
    """(the export's public id, whether it is new); the job is deferred in ``conn``'s
    transaction, which the caller commits."""
    from apps.flask_app.jobs import export_customer_data

    public_id = secrets.token_urlsafe(16)
    row = conn.execute(
        insert(data_exports)
        .values(public_id=public_id, customer_id=customer_id)
        .on_conflict_do_nothing(
            index_elements=["customer_id"], index_where=sa.text("status = 'pending'")
        )
        .returning(data_exports.c.id)
    ).one_or_none()
    if row is None:  # one is pending already: that one
        pending = conn.execute(
            sa.select(data_exports.c.public_id).where(
                data_exports.c.customer_id == customer_id, data_exports.c.status == "pending"
            )
        ).scalar_one()
        return pending, False
    raw = conn.connection.driver_connection  # the psycopg connection, in this transaction
    job_id = export_customer_data.configure(connection=raw).defer(export_id=row.id)
    conn.execute(
        sa.update(data_exports).where(data_exports.c.id == row.id).values(job_id=job_id)
    )
    return public_id, True


def get(conn: sa.Connection, customer_id: int, public_id: str) -> DataExport | ExportPending:
    row = conn.execute(
        sa.select(data_exports.c.status, data_exports.c.requested_at, data_exports.c.content)
        .where(
            data_exports.c.public_id == public_id,
            data_exports.c.customer_id == customer_id,
            sa.or_(data_exports.c.expires_at.is_(None), data_exports.c.expires_at > sa.func.now()),
        )
    ).one_or_none()
    if row is None:
        raise _not_found(public_id)
    if row.status == "pending":
        return ExportPending(status="pending", requested_at=row.requested_at)
    return DataExport.model_validate(row.content)


def build(conn: sa.Connection, export_id: int) -> bool:
    """Make the export (the job): False if it is gone or already done."""
    row = conn.execute(
        sa.select(data_exports.c.customer_id, data_exports.c.status)
        .where(data_exports.c.id == export_id)
        .with_for_update()
    ).one_or_none()
    if row is None or row.status != "pending":
        return False
    customer_id = row.customer_id
    orders = []
    after = None
    while True:
        page = shop.list_orders(conn, customer_id, after=after, limit=PAGE)
        orders += page.items
        if page.next is None:
            break
        after = page.next
    told = conn.execute(
        sa.select(
            notifications.c.id,
            notifications.c.order_id,
            notifications.c.kind,
            notifications.c.created_at,
        )
        .where(notifications.c.customer_id == customer_id)
        .order_by(notifications.c.id.desc())
    ).all()
    now: datetime = conn.execute(sa.select(sa.func.now())).scalar_one()
    document = DataExport(
        exported_at=now,
        customer=shop.get_customer(conn, customer_id),
        orders=orders,
        notifications=[Notification.model_validate(n, from_attributes=True) for n in told],
    )
    conn.execute(
        sa.update(data_exports)
        .where(data_exports.c.id == export_id)
        .values(
            status="done",
            content=document.model_dump(mode="json"),
            finished_at=sa.func.now(),
            expires_at=sa.func.now() + TTL,
        )
    )
    return True


def prune(conn: sa.Connection) -> int:
    """Delete the exports whose time is up."""
    result = conn.execute(sa.delete(data_exports).where(data_exports.c.expires_at <= sa.func.now()))
    return result.rowcount
