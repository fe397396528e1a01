-- name: customer_lifetime_value
-- title: Customer lifetime value
-- description: The customers who have spent the most over all time (cancelled orders left
--   out), from the reporting.customer_lifetime_value view.
-- param: limit int(1..10000) = 10  How many customers to list, e.g. 25.
-- example: mergepoint report run customer_lifetime_value --param limit=3 --format csv
SELECT customer_id,
       email,
       name,
       orders,
       lifetime_value_cents,
       average_order_cents,
       first_order_at,
       last_order_at
  FROM reporting.customer_lifetime_value
 WHERE orders > 0
 ORDER BY lifetime_value_cents DESC, customer_id
 LIMIT :limit;
