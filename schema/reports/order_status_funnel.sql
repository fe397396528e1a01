-- name: order_status_funnel
-- title: Order status funnel
-- description: Where the orders placed in a date range stand now: how many are in each
--   status (placed, paid, shipped, cancelled; every status listed, even at 0), their share
--   of all orders and their value.
-- param: date_from date = today-29  First day, e.g. 2026-11-01 or today-6.
-- param: date_to date = today  Last day (included), e.g. 2026-11-30 or today.
-- param: tz timezone = UTC  Time zone the days are counted in, e.g. Europe/Paris.
-- example: mergepoint report run order_status_funnel --param date_from=2026-01-01 --format json
WITH statuses (status, step) AS (
    VALUES ('placed', 1), ('paid', 2), ('shipped', 3), ('cancelled', 4)
),
placed AS (
    SELECT o.status, o.total_cents
      FROM shop.orders o
     WHERE o.placed_at >= (CAST(:date_from AS date)::timestamp AT TIME ZONE :tz)
       AND o.placed_at < ((CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz)
),
counts AS (
    SELECT status, count(*) AS orders, sum(total_cents)::bigint AS value_cents
      FROM placed
     GROUP BY status
)
SELECT s.status,
       coalesce(c.orders, 0) AS orders,
       round(100.0 * coalesce(c.orders, 0) / nullif(sum(c.orders) OVER (), 0), 1)
           AS share_percent,
       coalesce(c.value_cents, 0) AS value_cents
  FROM statuses s
  LEFT JOIN counts c ON c.status = s.status
 ORDER BY s.step;
