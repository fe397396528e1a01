"""A migration while the storefront is under load: DDL waits at most its lock_timeout.

A DDL statement that waits for its table lock makes every later request on that table
queue behind it, so the bound on the wait is what bounds the stall customers see. With a
long report holding the table, ``mergepoint migrate`` gives up after --lock-timeout and
says so; run again once the report is done, it goes through. Customers notice neither
beyond a pause of at most the lock timeout.
"""

from __future__ import annotations

import shutil
import textwrap
import threading
import time

import pytest

from schema import migrations
from schema.paths import ROOT
from tests.reliability.conftest import (
    Call,
    assert_shop_is_whole,
    call,
    mergepoint,
    register_customers,
    summary,
)
from tests.support import one_line_error

pytestmark = pytest.mark.slow

LOCK_TIMEOUT = 1.0  # seconds, given to mergepoint migrate as --lock-timeout
MARGIN = 1.5  # for a request's own work on a busy two-core machine
BUYERS = 8
REVISION = "9990"


@pytest.fixture
def gift_note_revision(tmp_path) -> dict[str, str]:
    """A copy of alembic/ with one more revision: a column and an index on shop.orders."""
    directory = tmp_path / "alembic"
    shutil.copytree(ROOT / "alembic", directory)
    (directory / "versions" / f"{REVISION}_orders_gift_note.py").write_text(
        textwrap.dedent(
            f'''
            """orders.gift_note, indexed"""
            import sqlalchemy as sa
            from alembic import op

            revision = "{REVISION}"
            down_revision = "{migrations.head()}"
            branch_labels = None
            depends_on = None


            def upgrade():
                op.add_column("orders", sa.Column("gift_note", sa.Text()), schema="shop")
                op.create_index("ix_orders_gift_note", "orders", ["gift_note"], schema="shop")


            def downgrade():
                op.drop_index("ix_orders_gift_note", table_name="orders", schema="shop")
                op.drop_column("orders", "gift_note", schema="shop")
            '''
        )
    )
    return {"MERGEPOINT_ALEMBIC_DIR": str(directory)}


def test_a_migration_under_load_waits_at_most_its_lock_timeout(
    fresh_db, owner, shop, storefront, http, gift_note_revision
):
    for sku in ("MIG-A", "MIG-B"):
        shop.product(sku, price=450, stock=100_000)
    buyers = register_customers(http, storefront.base, BUYERS)
    calls: list[Call] = []
    lock = threading.Lock()
    stop = threading.Event()

    def buyer(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if n % 4:
                c = call(http, "order", "POST", f"{storefront.base}/api/orders",
                         json={"lines": [{"sku": "MIG-A", "quantity": 1},
                                         {"sku": "MIG-B", "quantity": 2}]},
                         headers=buyers[i].headers)  # fmt: skip
            else:
                c = call(http, "list", "GET", f"{storefront.base}/api/orders?limit=5",
                         headers=buyers[i].headers)  # fmt: skip
            with lock:
                calls.append(c)

    migrate = ("migrate", "--lock-timeout", f"{int(LOCK_TIMEOUT * 1000)}ms")
    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(BUYERS)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        # A long report holds shop.orders (ACCESS SHARE) for as long as the first run lasts.
        with fresh_db.connect("reporting") as report:
            report.execute("SELECT count(*) FROM shop.orders").fetchone()
            refused = mergepoint(fresh_db, *migrate, env=gift_note_revision)
            report.rollback()
        time.sleep(1)
        started = time.monotonic()
        applied = mergepoint(fresh_db, *migrate, env=gift_note_revision)
        applied_in = time.monotonic() - started
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    # The first run gave up cleanly: one line that says why, nothing applied.
    assert refused.returncode == 1, refused.stdout + refused.stderr
    # ...and what to do about it.
    one_line_error(refused.stderr, "(lock timeout), so nothing was applied", "--lock-timeout")
    # The second went through under the same load.
    assert applied.returncode == 0, applied.stderr
    assert f"-> {REVISION}" in applied.stdout
    assert migrations.current(fresh_db.owner_url) == REVISION
    columns = owner.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'shop' AND table_name = 'orders' AND column_name = 'gift_note'"
    ).fetchall()
    assert columns == [("gift_note",)]

    seen = summary(calls)
    assert not [c for c in calls if c.server_error], seen
    assert {(c.what, c.status) for c in calls} <= {("order", 201), ("list", 200)}, seen
    slowest = max(c.seconds for c in calls)
    print(f"\n{len(calls)} requests; slowest {slowest:.3f}s (lock_timeout {LOCK_TIMEOUT}s);"
          f" the applied migrate run took {applied_in:.1f}s")  # fmt: skip
    # Requests queued behind the waiting DDL (the test sees the stall) but never longer
    # than the lock timeout allows.
    assert LOCK_TIMEOUT / 2 <= slowest <= LOCK_TIMEOUT + MARGIN, slowest
    assert_shop_is_whole(fresh_db, owner)
