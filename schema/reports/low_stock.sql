-- name: low_stock
-- title: Low stock
-- description: Products whose stock is at or below a threshold, emptiest first: what to
--   restock. Portable SQL (it also runs on SQLite with a `shop` schema attached).
-- param: threshold int(0..) = 5  List products with at most this many units, e.g. 0.
-- param: sku_prefix text = ""  Only SKUs starting with this, e.g. TEA- (default: all).
-- param: include_inactive bool = false  Also list inactive products, e.g. true.
-- example: mergepoint report run low_stock --param threshold=3 --param sku_prefix=TEA-
SELECT p.id AS product_id,
       p.sku,
       p.name,
       p.stock,
       p.active
  FROM shop.products p
 WHERE p.stock <= :threshold
   AND substr(p.sku, 1, length(CAST(:sku_prefix AS text))) = CAST(:sku_prefix AS text)
   AND (CAST(:include_inactive AS boolean) OR p.active)
 ORDER BY p.stock, p.sku;
