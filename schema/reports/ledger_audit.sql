-- name: ledger_audit
-- title: Ledger audit
-- description: Every place where stock, ledger and orders disagree; empty when all is
--   well. Problems: stock_differs_from_ledger (a product's stock is not the sum of its
--   movements), sale_missing, sale_duplicated, sale_quantity_differs (an order line
--   without exactly one sale movement of -quantity), cancel_missing, cancel_duplicated,
--   cancel_quantity_differs (a cancelled order's line whose stock was not returned exactly
--   once), cancel_without_cancelled_order, and order_total_differs (total_cents is not the
--   sum of the lines). From the reporting.ledger_audit view.
-- example: mergepoint report run ledger_audit --format json
SELECT problem, product_id, order_id, expected, actual
  FROM reporting.ledger_audit
 ORDER BY problem, product_id, order_id;
