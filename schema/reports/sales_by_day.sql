-- name: sales_by_day
-- title: Sales by day
-- description: Orders, units and revenue per day for orders placed in a date range
--   (both ends included), one row per day even when nothing sold. Cancelled orders are
--   counted apart and left out of the sales. Days are calendar days in the time zone tz.
-- param: date_from date = today-29  First day, e.g. 2026-11-01 or today-6.
-- param: date_to date = today  Last day (included), e.g. 2026-11-30 or today.
-- param: tz timezone = UTC  Time zone the days are counted in, e.g. Europe/Paris.
-- example: mergepoint report run sales_by_day --param date_from=today-6 --format csv
WITH days AS (
    SELECT d::date AS day
      FROM generate_series(CAST(:date_from AS date), CAST(:date_to AS date), interval '1 day') AS d
),
placed AS (
    -- a range on placed_at (not a cast of it), so ix_orders_placed_at can serve it
    SELECT (o.placed_at AT TIME ZONE :tz)::date AS day,
           count(*) FILTER (WHERE o.status <> 'cancelled') AS orders,
           sum(o.total_cents) FILTER (WHERE o.status <> 'cancelled') AS revenue_cents,
           count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled_orders
      FROM shop.orders o
     WHERE o.placed_at >= (CAST(:date_from AS date)::timestamp AT TIME ZONE :tz)
       AND o.placed_at < ((CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz)
     GROUP BY 1
),
units AS (
    SELECT (o.placed_at AT TIME ZONE :tz)::date AS day, sum(l.quantity) AS units
      FROM shop.orders o
      JOIN shop.order_lines l ON l.order_id = o.id
     WHERE o.placed_at >= (CAST(:date_from AS date)::timestamp AT TIME ZONE :tz)
       AND o.placed_at < ((CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz)
       AND o.status <> 'cancelled'
     GROUP BY 1
)
SELECT days.day,
       coalesce(p.orders, 0) AS orders,
       coalesce(u.units, 0)::bigint AS units,
       coalesce(p.revenue_cents, 0)::bigint AS revenue_cents,
       coalesce(p.cancelled_orders, 0) AS cancelled_orders
  FROM days
  LEFT JOIN placed p ON p.day = days.day
  LEFT JOIN units u ON u.day = days.day
 ORDER BY days.day;
