-- name: top_products
-- title: Top products
-- description: The products that brought in the most revenue from orders placed in a date
--   range (cancelled orders left out), with units sold and how many orders bought them.
-- param: limit int(1..10000) = 10  How many products to list, e.g. 20.
-- param: date_from date = today-29  First day, e.g. 2026-11-01 or today-6.
-- param: date_to date = today  Last day (included), e.g. 2026-11-30 or today.
-- param: tz timezone = UTC  Time zone the days are counted in, e.g. Europe/Paris.
-- example: mergepoint report run top_products --param limit=5 --param date_from=today-6
SELECT p.id AS product_id,
       p.sku,
       p.name,
       sum(l.quantity)::bigint AS units,
       sum(l.quantity::bigint * l.unit_price_cents)::bigint AS revenue_cents,
       count(*) AS orders
  FROM shop.orders o
  JOIN shop.order_lines l ON l.order_id = o.id
  JOIN shop.products p ON p.id = l.product_id
 WHERE o.status <> 'cancelled'
   AND o.placed_at >= (CAST(:date_from AS date)::timestamp AT TIME ZONE :tz)
   AND o.placed_at < ((CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz)
 GROUP BY p.id
 ORDER BY revenue_cents DESC, units DESC, p.id
 LIMIT :limit;
