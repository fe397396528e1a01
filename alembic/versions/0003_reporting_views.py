"""reporting views: customer_lifetime_value and ledger_audit

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
    "ledger_audit": """
WITH ledger AS (
    SELECT m.product_id, sum(m.delta)::bigint AS total
      FROM shop.stock_movements m
     GROUP BY m.product_id
),
line_movements AS (
    SELECT m.order_id, m.product_id,
           count(*) FILTER (WHERE m.reason = 'sale') AS sales,
           coalesce(sum(m.delta) FILTER (WHERE m.reason = 'sale'), 0)::bigint AS sold,
           count(*) FILTER (WHERE m.reason = 'cancel') AS cancels,
           coalesce(sum(m.delta) FILTER (WHERE m.reason = 'cancel'), 0)::bigint AS returned
      FROM shop.stock_movements m
     WHERE m.order_id IS NOT NULL
     GROUP BY m.order_id, m.product_id
),
lines AS (
    SELECT l.order_id, l.product_id, l.quantity::bigint AS quantity, o.status,
           coalesce(lm.sales, 0) AS sales, coalesce(lm.sold, 0) AS sold,
           coalesce(lm.cancels, 0) AS cancels, coalesce(lm.returned, 0) AS returned
      FROM shop.order_lines l
      JOIN shop.orders o ON o.id = l.order_id
      LEFT JOIN line_movements lm ON lm.order_id = l.order_id AND lm.product_id = l.product_id
),
line_totals AS (
    SELECT l.order_id, sum(l.quantity::bigint * l.unit_price_cents)::bigint AS total
      FROM shop.order_lines l
     GROUP BY l.order_id
)
SELECT 'stock_differs_from_ledger'::text AS problem,
       p.id AS product_id,
       NULL::bigint AS order_id,
       coalesce(g.total, 0) AS expected,
       p.stock::bigint AS actual
  FROM shop.products p
  LEFT JOIN ledger g ON g.product_id = p.id
 WHERE p.stock <> coalesce(g.total, 0)
UNION ALL
SELECT CASE WHEN sales = 0 THEN 'sale_missing'
            WHEN sales > 1 THEN 'sale_duplicated'
            ELSE 'sale_quantity_differs' END,
       product_id, order_id, -quantity, sold
  FROM lines
 WHERE sales <> 1 OR sold <> -quantity
UNION ALL
SELECT CASE WHEN cancels = 0 THEN 'cancel_missing'
            WHEN cancels > 1 THEN 'cancel_duplicated'
            ELSE 'cancel_quantity_differs' END,
       product_id, order_id, quantity, returned
  FROM lines
 WHERE status = 'cancelled' AND (cancels <> 1 OR returned <> quantity)
UNION ALL
SELECT 'cancel_without_cancelled_order', product_id, order_id, 0, returned
  FROM lines
 WHERE status <> 'cancelled' AND cancels > 0
UNION ALL
SELECT 'order_total_differs', NULL, o.id, coalesce(t.total, 0), o.total_cents
  FROM shop.orders o
  LEFT JOIN line_totals t ON t.order_id = o.id
 WHERE o.total_cents <> coalesce(t.total, 0)""",
}


def upgrade() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW reporting.{name} AS {body}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW reporting.{name}")
