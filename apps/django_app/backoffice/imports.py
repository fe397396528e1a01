"""Product import: a catalogue CSV, validated whole before anything is written, then
written by a job in short batches, idempotent by SKU.

The file: UTF-8 (a BOM is fine), a header naming ``sku``, ``name``, ``price_cents`` and
optionally ``stock``, one product per line, prices in integer cents. ``stock`` is the
stock the product should have: the import writes the difference as a ``restock`` (or,
downwards, an ``adjust``) movement, so importing the same file again changes nothing.

Validation (``parse``) happens in the request and refuses the whole file, listing each bad
line: encoding, header, field counts, whole numbers, duplicate SKUs — and the database's
own rules on products (its CHECK constraints on sku, name, price and stock), evaluated by
the database itself over every line in one query, so the back office never restates them.

Writing (``run``) is a job (tasks.py): each batch of ``BATCH`` rows is one short
transaction (event delivery waits for any open transaction holding an xid: keep them
short) that locks the import's row, skips the batch if a previous attempt committed it,
locks the batch's existing products in id order (as orders do), inserts the new ones,
updates changed names and prices, writes the stock differences as movements (actor
``backoffice:<username>:import:<id>``), records what it did and moves the checkpoint.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.django_app.backoffice.errors import CONSTRAINTS
from apps.django_app.backoffice.models import ProductImport, ProductImportBatch

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # 100,000 products take about 5 MB
MAX_ROWS = 200_000
BATCH = 500  # rows per transaction: well under a second each (bench/jobs.py)
MAX_SHOWN = 100  # errors listed on the page (the count says how many more)
REQUIRED = ("sku", "name", "price_cents")
OPTIONAL = ("stock",)
INT4 = 2**31 - 1
RESULT_HEADER = "line,sku,outcome,stock_before,stock_after\n"
_INTEGER = re.compile(r"^[+-]?\d{1,12}$")


@dataclass(frozen=True)
class Row:
    line: int
    sku: str
    name: str
    price_cents: int
    stock: int | None


@dataclass(frozen=True)
class LineError:
    line: int | None  # None: the file as a whole
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class ImportRefused(Exception):
    """The file cannot be imported; ``errors`` says why, line by line. Nothing was written."""

    def __init__(self, errors: list[LineError]):
        super().__init__(str(errors[0]))
        self.errors = errors


def parse(data: bytes, check_rules: bool = True) -> list[Row]:
    """The file's rows, or ``ImportRefused`` listing every problem (nothing is written)."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(
            [LineError(None, f"the file is {len(data) / 1e6:.1f} MB; at most "
                             f"{MAX_BYTES // 2**20} MB (about 400,000 products) per import")]
        )  # fmt: skip
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ImportRefused([LineError(1, f"not CSV ({exc})")]) from None
    if not header or not any(h.strip() for h in header):
        raise ImportRefused([LineError(None, "the file is empty: the first line is the header "
                                             "sku,name,price_cents[,stock]")])  # fmt: skip
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in (*REQUIRED, *OPTIONAL)]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unknown or duplicated:
        problems = [f"missing column {', '.join(missing)}"] if missing else []
        problems += [f"unknown column {', '.join(unknown)}"] if unknown else []
        problems += [f"column {', '.join(duplicated)} given twice"] if duplicated else []
        raise ImportRefused(
            [LineError(1, "the header must be sku,name,price_cents and optionally stock: "
                          + "; ".join(problems))]
        )  # fmt: skip
    where = {c: columns.index(c) for c in columns}
    rows: list[Row] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue  # a blank line
            if len(fields) != len(columns):
                errors.append(
                    LineError(line, f"{len(fields)} fields, the header has {len(columns)}")
                )
                continue
            row, problems = _row(line, fields, where)
            errors += problems
            if row is None:
                continue
            if row.sku in seen:
                errors.append(LineError(line, f"SKU {row.sku} is already on line {seen[row.sku]}"))
                continue
            seen[row.sku] = line
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise ImportRefused([LineError(None, f"more than {MAX_ROWS:,} products: "
                                                     "split the file")])  # fmt: skip
    except csv.Error as exc:
        errors.append(LineError(reader.line_num or line, f"not valid CSV ({exc})"))
    if not rows and not errors:
        errors.append(LineError(None, "the file has a header but no products"))
    if check_rules and rows:
        errors += rule_errors(rows)
    if errors:
        raise ImportRefused(sorted(errors, key=lambda e: (e.line or 0)))
    return rows


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused(
            [LineError(line, f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}): save it "
                             "as “CSV UTF-8” and upload it again")]
        ) from None  # fmt: skip


def _row(
    line: int, fields: list[str], where: dict[str, int]
) -> tuple[Row | None, list[LineError]]:
    problems = []
    values: dict[str, int | None] = {}
    for column in ("price_cents", "stock"):
        if column not in where:
            values[column] = None
            continue
        raw = fields[where[column]].strip()
        if column == "stock" and raw == "":
            values[column] = None  # no stock given: leave it as it is
        elif not _INTEGER.match(raw):
            problems.append(LineError(line, f"{column} {raw!r} is not a whole number of cents"
                                      if column == "price_cents" else
                                      f"{column} {raw!r} is not a whole number"))  # fmt: skip
        elif not -INT4 - 1 <= int(raw) <= INT4:
            problems.append(LineError(line, f"{column} {raw} is too large"))
        else:
            values[column] = int(raw)
    if problems:
        return None, problems
    price = values["price_cents"]
    assert price is not None
    return Row(
        line,
        fields[where["sku"]].strip(),
        fields[where["name"]].strip(),
        price,
        values["stock"],
    ), []


# The database's own CHECK constraints on products over the columns an import sets, as
# the database prints them; only their text is spliced into the query below, never data.
_RULES = """
SELECT k.conname, pg_get_expr(k.conbin, k.conrelid)
  FROM pg_constraint k
 WHERE k.conrelid = 'shop.products'::regclass AND k.contype = 'c'
   AND NOT EXISTS (SELECT 1 FROM unnest(k.conkey) n
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = n
                    WHERE a.attname NOT IN ('sku', 'name', 'price_cents', 'stock'))
 ORDER BY k.conname
"""


def rule_errors(rows: list[Row]) -> list[LineError]:
    """Every row the database's rules on products would refuse, by the rule's name: the
    database evaluates its own CHECK expressions over the rows (nothing is written)."""
    with connection.cursor() as cursor:
        cursor.execute(_RULES)
        rules = cursor.fetchall()
        if not rules:
            return []
        checks = ", ".join(
            f"(%s, ({expression.replace('%', '%%')}))" for _name, expression in rules
        )
        cursor.execute(
            "SELECT t.line, t.sku, t.name, t.price_cents, t.stock, c.rule"
            " FROM unnest(%s::int[], %s::text[], %s::text[], %s::int[], %s::int[])"
            "      AS t(line, sku, name, price_cents, stock)"
            f" CROSS JOIN LATERAL (VALUES {checks}) AS c(rule, ok)"  # the database's own text
            " WHERE NOT c.ok ORDER BY t.line, c.rule",
            [
                [r.line for r in rows],
                [r.sku for r in rows],
                [r.name for r in rows],
                [r.price_cents for r in rows],
                [r.stock for r in rows],
                *(name for name, _expression in rules),
            ],
        )
        refused = cursor.fetchall()
    return [
        LineError(line, _explain(rule, sku, name, price, stock))
        for line, sku, name, price, stock, rule in refused
    ]


def _explain(rule: str, sku: str, name: str, price: int, stock: int | None) -> str:
    value = {
        "ck_products_sku_format": f"SKU {sku!r}",
        "ck_products_name_length": f"name of {len(name)} characters",
        "ck_products_price_cents_non_negative": f"price_cents {price}",
        "ck_products_stock_non_negative": f"stock {stock}",
    }.get(rule, f"SKU {sku!r}")
    reason = CONSTRAINTS.get(rule, "refused by the database")
    if rule == "ck_products_stock_non_negative":
        reason = "stock cannot be negative"
    return f"{value}: {reason} ({rule})"


def start(*, filename: str, rows: list[Row], user: object, username: str) -> ProductImport:
    """Record the import and defer its job, in one transaction: if it rolls back, no job
    runs (the job row is written on Django's own connection, in the same transaction)."""
    from apps.django_app.backoffice.tasks import import_products

    with transaction.atomic():
        record = ProductImport.objects.create(
            filename=filename[:255],
            created_by=user,
            username=username,
            rows=[[r.line, r.sku, r.name, r.price_cents, r.stock] for r in rows],
            total_rows=len(rows),
        )
        record.job_id = import_products.defer(import_id=record.pk)
        record.save(update_fields=["job_id"])
    return record


class Stopped(Exception):
    """The worker asked the import to stop (Ctrl-C): it stopped between two batches."""


def run(import_id: int, should_stop: Callable[[], bool] = lambda: False) -> ProductImport:
    """Write the import's remaining batches, one transaction each; idempotent."""
    record = ProductImport.objects.get(pk=import_id)
    if record.status == ProductImport.Status.DONE:
        return record
    ProductImport.objects.filter(pk=import_id, started_at=None).update(
        started_at=timezone.now(), status=ProductImport.Status.RUNNING
    )
    rows = record.rows
    while True:
        done = _batch(import_id, rows)
        if done is None:
            break
        log.info("import %s: %s of %s rows", import_id, f"{done:,}", f"{len(rows):,}")
        if done < len(rows) and should_stop():
            raise Stopped(f"import {import_id} stopped at row {done:,} of {len(rows):,}")
    ProductImport.objects.filter(pk=import_id).exclude(status=ProductImport.Status.DONE).update(
        status=ProductImport.Status.DONE, finished_at=timezone.now()
    )
    return ProductImport.objects.get(pk=import_id)


def _batch(import_id: int, rows: list[list]) -> int | None:
    """One batch in one transaction; the rows done after it, or None if none was left."""
    with transaction.atomic():
        record = ProductImport.objects.select_for_update().only("done_rows", "username").get(
            pk=import_id
        )
        start_row = record.done_rows
        if start_row >= len(rows):
            return None
        batch = [Row(*r) for r in rows[start_row : start_row + BATCH]]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('mergepoint.actor', %s, true)",
                [f"backoffice:{record.username}:import:{import_id}"],
            )
            outcomes = write_batch(cursor, batch)
        ProductImportBatch.objects.create(
            product_import_id=import_id,
            first_row=start_row,
            outcome="".join(
                f"{o.line},{o.sku},{o.outcome},{o.stock_before},{o.stock_after}\n"
                for o in outcomes
            ),
        )
        counts = {k: sum(1 for o in outcomes if o.outcome == k) for k in ("created", "updated")}
        ProductImport.objects.filter(pk=import_id).update(
            done_rows=start_row + len(batch),
            created=F("created") + counts["created"],
            updated=F("updated") + counts["updated"],
            unchanged=F("unchanged") + len(batch) - counts["created"] - counts["updated"],
        )
        return start_row + len(batch)


@dataclass(frozen=True)
class Outcome:
    line: int
    sku: str
    outcome: str  # created | updated | unchanged
    stock_before: int
    stock_after: int


def write_batch(cursor, batch: list[Row]) -> list[Outcome]:  # noqa: ANN001 - a DB-API cursor
    """The batch's products and stock movements, set-based, in the caller's transaction."""
    skus = [r.sku for r in batch]
    current = _lock(cursor, skus)
    new = [r for r in batch if r.sku not in current]
    if new:
        cursor.execute(
            "INSERT INTO shop.products (sku, name, price_cents)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::int[])"
            " ON CONFLICT (sku) DO NOTHING RETURNING id, sku",
            [[r.sku for r in new], [r.name for r in new], [r.price_cents for r in new]],
        )
        inserted = {sku: pid for pid, sku in cursor.fetchall()}
        for r in new:
            if r.sku in inserted:
                current[r.sku] = (inserted[r.sku], r.name, r.price_cents, 0)
        # Created meanwhile by someone else (committed: ON CONFLICT waited): lock those too.
        late = [r.sku for r in new if r.sku not in current]
        if late:
            current.update(_lock(cursor, late))
    else:
        inserted = {}
    changed = [
        r
        for r in batch
        if r.sku not in inserted and current[r.sku][1:3] != (r.name, r.price_cents)
    ]
    if changed:
        cursor.execute(
            "UPDATE shop.products p SET name = v.name, price_cents = v.price_cents"
            " FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(id, name, price_cents)"
            " WHERE p.id = v.id",
            [[current[r.sku][0] for r in changed], [r.name for r in changed],
             [r.price_cents for r in changed]],
        )  # fmt: skip
    moves = [
        (current[r.sku][0], r.stock - current[r.sku][3])
        for r in batch
        if r.stock is not None and r.stock != current[r.sku][3]
    ]
    if moves:
        cursor.execute(
            "INSERT INTO shop.stock_movements (product_id, delta, reason)"
            " SELECT id, delta, CASE WHEN delta > 0 THEN 'restock' ELSE 'adjust' END"
            " FROM unnest(%s::bigint[], %s::int[]) AS m(id, delta) ORDER BY id",
            [[pid for pid, _ in moves], [delta for _, delta in moves]],
        )
    changed_skus = {r.sku for r in changed}
    out = []
    for r in batch:
        before = current[r.sku][3]
        after = before if r.stock is None else r.stock
        if r.sku in inserted:
            outcome = "created"
        elif r.sku in changed_skus or after != before:
            outcome = "updated"
        else:
            outcome = "unchanged"
        out.append(Outcome(r.line, r.sku, outcome, before, after))
    return out


def _lock(cursor, skus: Iterable[str]) -> dict[str, tuple[int, str, int, int]]:  # noqa: ANN001
    """sku -> (id, name, price_cents, stock) of the existing products, locked in id order
    (orders lock products in id order too: no deadlock between them)."""
    cursor.execute(
        "SELECT id, sku, name, price_cents, stock FROM shop.products WHERE sku = ANY(%s)"
        " ORDER BY id FOR NO KEY UPDATE",
        [list(skus)],
    )
    return {sku: (pid, name, price, stock) for pid, sku, name, price, stock in cursor.fetchall()}


def state(record: ProductImport) -> str:
    """What the progress page says: queued, running, done, or failed (the job gave up)."""
    if record.status == ProductImport.Status.DONE:
        return "done"
    if record.job_id is not None:
        with connection.cursor() as cursor:  # procrastinate's jobs: our queue's only (RLS)
            cursor.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [record.job_id])
            row = cursor.fetchone()
        if row is not None and row[0] in ("failed", "cancelled", "aborted"):
            return "failed"
    return str(record.status)


def result_lines(record: ProductImport) -> Iterator[str]:
    """The result file: what each line of the import did, in file order."""
    yield RESULT_HEADER
    for batch in record.batches.order_by("first_row").iterator(chunk_size=20):
        yield batch.outcome
