"""reporting views: customer_lifetime_value and ledger_audit (and the statistics it needs)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:00:00

Views for the reports that other tools deserve to query too (a BI tool, monitoring, the
end-to-end tests): one row per customer with what they spent, and every place where stock,
ledger and orders disagree (empty when all is well). The reporting role reads them through
the grants in schema/roles.py. The view bodies are frozen here, as a revision should be: a
change is a new revision. Autogenerate does not see views; tests/reports checks them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = {
    # Aggregated before the join, so the grouping is over orders alone.
    "customer_lifetime_value": """
SELECT c.id AS customer_id,
       c.email,
       c.name,
       coalesce(t.orders, 0) AS orders,
       coalesce(t.value_cents, 0) AS lifetime_value_cents,
       t.average_cents AS average_order_cents,
       t.first_order_at,
       t.last_order_at
  FROM shop.customers c
  LEFT JOIN (
        SELECT o.customer_id,
               count(*) AS orders,
               sum(o.total_cents)::bigint AS value_cents,
               round(avg(o.total_cents))::bigint AS average_cents,
               min(o.placed_at) AS first_order_at,
               max(o.placed_at) AS last_order_at
          FROM shop.orders o
         WHERE o.status <> 'cancelled'
         GROUP BY o.customer_id
       ) t ON t.customer_id = c.id""",
    # expected/actual: units for stock and movements (a sale's are negative), cents for totals.
    # Sale and cancel movements are grouped separately, each along its partial unique index
    # (already in (order_id, product_id) order), so nothing is materialized twice.
    "ledger_audit": """
WITH sale AS (
    SELECT m.order_id, m.product_id, count(*) AS movements, sum(m.delta)::bigint AS units
      FROM shop.stock_movements m
     WHERE m.reason = 'sale'
     GROUP BY m.order_id, m.product_id
),
cancel AS (
    SELECT m.order_id, m.product_id, count(*) AS movements, sum(m.delta)::bigint AS units
      FROM shop.stock_movements m
     WHERE m.reason = 'cancel'
     GROUP BY m.order_id, m.product_id
)
SELECT 'stock_differs_from_ledger'::text AS problem,
       p.id AS product_id,
       NULL::bigint AS order_id,
       coalesce(g.total, 0) AS expected,
       p.stock::bigint AS actual
  FROM shop.products p
  LEFT JOIN (SELECT m.product_id, sum(m.delta)::bigint AS total
               FROM shop.stock_movements m
              GROUP BY m.product_id) g ON g.product_id = p.id
 WHERE p.stock <> coalesce(g.total, 0)
UNION ALL
SELECT CASE WHEN s.movements IS NULL THEN 'sale_missing'
            WHEN s.movements > 1 THEN 'sale_duplicated'
            ELSE 'sale_quantity_differs' END,
       l.product_id, l.order_id, -l.quantity::bigint, coalesce(s.units, 0)
  FROM shop.order_lines l
  LEFT JOIN sale s ON s.order_id = l.order_id AND s.product_id = l.product_id
 WHERE s.movements IS DISTINCT FROM 1 OR s.units <> -l.quantity
UNION ALL
SELECT CASE WHEN c.movements IS NULL THEN 'cancel_missing'
            WHEN c.movements > 1 THEN 'cancel_duplicated'
            ELSE 'cancel_quantity_differs' END,
       l.product_id, l.order_id, l.quantity::bigint, coalesce(c.units, 0)
  FROM shop.orders o
  JOIN shop.order_lines l ON l.order_id = o.id
  LEFT JOIN cancel c ON c.order_id = l.order_id AND c.product_id = l.product_id
 WHERE o.status = 'cancelled'
   AND (c.movements IS DISTINCT FROM 1 OR c.units <> l.quantity)
UNION ALL
SELECT 'cancel_without_cancelled_order', c.product_id, c.order_id, 0, c.units
  FROM cancel c
  JOIN shop.orders o ON o.id = c.order_id
 WHERE o.status <> 'cancelled'
UNION ALL
SELECT 'order_total_differs', NULL, o.id, coalesce(t.total, 0), o.total_cents
  FROM shop.orders o
  LEFT JOIN (SELECT l.order_id, sum(l.quantity::bigint * l.unit_price_cents)::bigint AS total
               FROM shop.order_lines l
              GROUP BY l.order_id) t ON t.order_id = o.id
 WHERE o.total_cents <> coalesce(t.total, 0)""",
}


# Without it the planner guesses (order_id, product_id) has a third of its real distinct
# values, hashes ledger_audit's per-line groups in 32 batches instead of merging them in
# index order, and the audit of a million orders takes about twice as long. It lives in
# `reporting` (a statistics object's namespace need not be its table's) and changes nothing
# the apps see.
STATISTICS = (
    "CREATE STATISTICS reporting.stock_movements_order_id_product_id (ndistinct)"
    " ON order_id, product_id FROM shop.stock_movements"
)


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW reporting.{name} AS {body}")
    op.execute(STATISTICS)


def downgrade() -> None:
    op.execute("DROP STATISTICS IF EXISTS reporting.stock_movements_order_id_product_id")
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW reporting.{name}")
