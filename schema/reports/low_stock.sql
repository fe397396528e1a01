-- name: low_stock
-- title: Low stock
-- description: Products whose stock is at or below a threshold, emptiest first: what to
--   restock. The threshold defaults to the shop's one low-stock threshold
--   (shop.settings, set by staff in the back office; the stock.low event uses it too).
--   Portable SQL (it also runs on SQLite with a `shop` schema attached).
-- param: threshold int(0..) = ""  List products with at most this many units, e.g. 0 (default: the shop's threshold).
-- param: sku_prefix text = ""  Only SKUs starting with this, e.g. TEA- (default: all).
-- param: include_inactive bool = false  Also list inactive products, e.g. true.
-- example: mergepoint report run low_stock --param threshold=3 --param sku_prefix=TEA-
SELECT p.id AS product_id,
       p.sku,
       p.name,
       p.stock,
       p.active
  FROM shop.products p
 WHERE p.stock <= COALESCE(CAST(:threshold AS integer),
                           (SELECT s.low_stock_threshold FROM shop.settings s))
   AND substr(p.sku, 1, length(CAST(:sku_prefix AS text))) = CAST(:sku_prefix AS text)
   AND (CAST(:include_inactive AS boolean) OR p.active)
 ORDER BY p.stock, p.sku;
