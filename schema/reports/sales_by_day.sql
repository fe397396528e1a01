-- name: sales_by_day
-- title: Sales by day
-- description: Orders, units and revenue per day for orders placed in a date range
--   (both ends included), one row per day even when nothing sold. Cancelled orders are
--   counted apart and left out of the sales. Days are calendar days in the time zone tz.
-- param: date_from date = today-29  First day, e.g. 2026-11-01 or today-6.
-- param: date_to date = today  Last day (included), e.g. 2026-11-30 or today.
-- param: tz text = UTC  Time zone the days are counted in, e.g. Europe/Paris.
-- example: mergepoint report run sales_by_day --param date_from=today-6 --format csv
WITH days AS (
    SELECT d::date AS day
      FROM generate_series(CAST(:date_from AS date), CAST(:date_to AS date), interval '1 day') AS d
),
placed AS (
    -- a range on placed_at (not a cast of it) so ix_orders_placed_at serves the filter
    SELECT o.id, o.status, o.total_cents, (o.placed_at AT TIME ZONE :tz)::date AS day
      FROM shop.orders o
     WHERE o.placed_at >= (CAST(:date_from AS date)::timestamp AT TIME ZONE :tz)
       AND o.placed_at < ((CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz)
),
units AS (
    SELECT p.day, sum(l.quantity)::bigint AS units
      FROM placed p JOIN shop.order_lines l ON l.order_id = p.id
     WHERE p.status <> 'cancelled'
     GROUP BY p.day
)
SELECT days.day,
       count(p.id) FILTER (WHERE p.status <> 'cancelled') AS orders,
       coalesce(max(u.units), 0) AS units,
       coalesce(sum(p.total_cents) FILTER (WHERE p.status <> 'cancelled'), 0)::bigint
           AS revenue_cents,
       count(p.id) FILTER (WHERE p.status = 'cancelled') AS cancelled_orders
  FROM days
  LEFT JOIN placed p ON p.day = days.day
  LEFT JOIN units u ON u.day = days.day
 GROUP BY days.day
 ORDER BY days.day;
