"""The shared ``shop`` tables as unmanaged models: the database is someone else's.

``managed = False`` everywhere: Django never creates, alters or flushes these tables.
Plain table names resolve through the connection's ``search_path`` (``backoffice,shop``,
set in settings and on the role), so no schema name is hard-coded here. Identity keys
are ``GENERATED ALWAYS``: a BigAutoField never sends ``id`` on insert.

The columns of a product the database sets (``stock``, timestamps) are ``database_set``
fields: Django never names them in an INSERT or UPDATE and reads them back with
RETURNING. That matters beyond style: the role's INSERT grant is column-level, and
PostgreSQL checks the privilege of every column an INSERT names, ``DEFAULT`` included
(docs/design.md, "Trust boundary"). Rows only read here keep plain fields.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.db.models.expressions import RawSQL, Value
from django.db.models.functions import Now

# The CHECK sets of the shared schema (ck_orders_status, ck_stock_movements_reason).


class OrderStatus(models.TextChoices):
    PLACED = "placed", "placed"
    PAID = "paid", "paid"
    SHIPPED = "shipped", "shipped"
    CANCELLED = "cancelled", "cancelled"


class MovementReason(models.TextChoices):
    RESTOCK = "restock", "restock"
    SALE = "sale", "sale"
    CANCEL = "cancel", "cancel"
    ADJUST = "adjust", "adjust"


def database_set(output_field: models.Field, expression=None, **kwargs) -> models.GeneratedField:
    """A column the database writes (a trigger or a default): never sent, read back.

    A ``GeneratedField`` of an unmanaged model: Django leaves it out of every INSERT and
    UPDATE and returns it from the INSERT. Its expression is never run (Django creates no
    table here); it says what the database puts there.
    """
    return models.GeneratedField(
        expression=expression if expression is not None else Value(0),
        output_field=output_field,
        db_persist=True,
        **kwargs,
    )


SKU_FORMAT = RegexValidator(
    r"^[A-Z0-9][A-Z0-9-]{0,63}$",
    "Use 1 to 64 capital letters, digits and dashes, starting with a letter or digit.",
)
NAME_LENGTH = MaxLengthValidator(200)


class Customer(models.Model):
    id = models.BigAutoField(primary_key=True)
    email = models.TextField()
    name = models.TextField()
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        managed = False
        db_table = "customers"
        ordering = ("-id",)

    def __str__(self) -> str:
        return self.email


class Product(models.Model):
    id = models.BigAutoField(primary_key=True)
    sku = models.TextField(
        "SKU", unique=True, validators=[SKU_FORMAT], help_text="Cannot be changed once saved."
    )
    name = models.TextField(validators=[NAME_LENGTH])
    price_cents = models.IntegerField("price (cents)", validators=[MinValueValidator(0)])
    stock = database_set(models.IntegerField(), Value(0))
    active = models.BooleanField(default=True, db_default=True)
    created_at = database_set(models.DateTimeField(), Now())
    updated_at = database_set(models.DateTimeField(), Now())

    class Meta:
        managed = False
        db_table = "products"
        ordering = ("sku",)
        permissions = [("restock_product", "Can restock products")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Order(models.Model):
    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.TextField(
        choices=OrderStatus.choices, default=OrderStatus.PLACED, db_default=OrderStatus.PLACED
    )
    total_cents = models.BigIntegerField("total (cents)", db_default=0, editable=False)
    placed_at = models.DateTimeField(db_default=Now(), editable=False)
    updated_at = models.DateTimeField(db_default=Now(), editable=False)
    idempotency_key = models.TextField(null=True, blank=True, editable=False)
    request_hash = models.TextField(null=True, blank=True, editable=False)

    class Meta:
        managed = False
        db_table = "orders"
        ordering = ("-id",)
        permissions = [("change_order_status", "Can mark orders paid, ship and cancel them")]

    def __str__(self) -> str:
        return f"order #{self.pk}"


class OrderLine(models.Model):
    pk = models.CompositePrimaryKey("order", "product")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.IntegerField()
    unit_price_cents = models.IntegerField("unit price (cents)")

    class Meta:
        managed = False
        db_table = "order_lines"
        ordering = ("order", "product")

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} in order #{self.order_id}"


# COALESCE(NULLIF(current_setting('mergepoint.actor', true), ''), session_user), as the
# column's default says; Django only ever sends DEFAULT for it.
ACTOR_DEFAULT = RawSQL(
    "COALESCE(NULLIF(current_setting('mergepoint.actor', true), ''), session_user)", ()
)


class StockMovement(models.Model):
    id = models.BigAutoField(primary_key=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    delta = models.IntegerField()
    reason = models.TextField(choices=MovementReason.choices)
    # Enforced by the composite foreign key (order_id, product_id) -> order_lines.
    order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        related_name="movements",
        null=True,
        blank=True,
        db_constraint=False,
    )
    actor = models.TextField(db_default=ACTOR_DEFAULT, editable=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        managed = False
        db_table = "stock_movements"
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"{self.reason} {self.delta:+d} of product {self.product_id}"


class ShopSettings(models.Model):
    """The shop's settings, one row (``shop.settings``): the one low-stock threshold, which
    the database's stock.low event, the products' "low stock" filter, the low_stock
    report's default and the dashboard all read. Staff change it here."""

    id = models.BooleanField(primary_key=True, default=True, editable=False)
    low_stock_threshold = models.IntegerField(
        "low-stock threshold",
        validators=[MinValueValidator(0), MaxValueValidator(1_000_000)],
        help_text="A product is low on stock at or below this many units.",
    )

    class Meta:
        managed = False
        db_table = "settings"
        verbose_name = verbose_name_plural = "shop settings"

    def __str__(self) -> str:
        return "shop settings"

    @classmethod
    def threshold(cls) -> int:
        return cls.objects.values_list("low_stock_threshold", flat=True).get()


SHARED_MODELS = (Customer, Product, Order, OrderLine, StockMovement, ShopSettings)


class FeedItem(models.Model):
    """The staff feed: new orders and low-stock alerts, from the shared schema's events.

    The back office's own table (``backoffice`` namespace, Django's migrations), written
    by ``manage.py consume_events`` in the transaction that acknowledges the event:
    ``event_id`` is unique, so a redelivered event adds nothing.
    """

    class Kind(models.TextChoices):
        ORDER_PLACED = "order.placed", "new order"
        STOCK_LOW = "stock.low", "low stock"

    event_id = models.BigIntegerField(unique=True)
    kind = models.TextField(choices=Kind.choices)
    order_id = models.BigIntegerField(null=True, blank=True)
    product_id = models.BigIntegerField(null=True, blank=True)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    seen_by = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["seen_at", "id"], name="feed_unseen")]

    def __str__(self) -> str:
        return self.message


# --- the back office's own tables (``backoffice``, created by Django's migrate) -----------


class Xid8Field(models.Field):
    """A transaction id as PostgreSQL orders them (``xid8``): where events have got to."""

    description = "PostgreSQL xid8"

    def db_type(self, connection) -> str:
        return "xid8"


class SnapshotField(models.Field):
    """Which transactions a statement saw (``pg_snapshot``): what a rebuild counted."""

    description = "PostgreSQL pg_snapshot"

    def db_type(self, connection) -> str:
        return "pg_snapshot"


class SalesDay(models.Model):
    """The daily sales rollup: the orders placed on a day (UTC) that are in a status now,
    their units and value. Maintained by ``manage.py consume_events`` from the order events
    (sales.py); the dashboard reads 30 days of it instead of a month of raw orders.

    Sales of a day are its rows but ``cancelled``; the status funnel is all four.
    """

    pk = models.CompositePrimaryKey("day", "status")
    day = models.DateField()
    status = models.TextField(choices=OrderStatus.choices)
    orders = models.BigIntegerField(default=0)
    units = models.BigIntegerField(default=0)
    value_cents = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sales_rollup"
        ordering = ("day", "status")
        verbose_name = "sales day"

    def __str__(self) -> str:
        return f"{self.day} {self.status}: {self.orders} orders"


class SalesRollupState(models.Model):
    """One row: what the rollup has counted. ``snapshot`` is the snapshot of the last
    rebuild from ``shop.orders`` (an event of a transaction it saw is already counted);
    ``applied_txid``/``applied_id`` the last event applied (a redelivered one is skipped)."""

    id = models.BooleanField(primary_key=True, default=True, editable=False)
    snapshot = SnapshotField()
    built_at = models.DateTimeField()
    built_orders = models.BigIntegerField()
    applied_txid = Xid8Field()
    applied_id = models.BigIntegerField()
    applied_at = models.DateTimeField()

    class Meta:
        db_table = "sales_rollup_state"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=True), name="ck_sales_rollup_state_one_row"
            )
        ]

    def __str__(self) -> str:
        return f"sales rollup built {self.built_at:%Y-%m-%d %H:%M:%S}"


class LoginFailure(models.Model):
    """Failed admin logins of one bucket (``username:<name>`` or ``address:<ip>``) in its
    current window (throttle.py). In the database, so every process and host shares it."""

    bucket = models.TextField(primary_key=True)
    window_ends = models.DateTimeField()
    failures = models.BigIntegerField()

    class Meta:
        db_table = "login_failures"
        indexes = [models.Index(fields=["window_ends"], name="ix_login_failures_window_ends")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(failures__gte=0), name="ck_login_failures_failures"
            )
        ]

    def __str__(self) -> str:
        return f"{self.bucket}: {self.failures} until {self.window_ends:%H:%M:%S}"


class ProductImport(models.Model):
    """A catalogue file staff uploaded: validated whole in the request, then written by a
    job (imports.py) in short batches. Its rows live here (the worker may run on another
    machine); ``done_rows`` is the checkpoint a batch moves in its own transaction, so a
    retried job goes on where the last committed batch ended."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"

    filename = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.TextField()  # who imported (the movements' actor names them)
    rows = models.JSONField()  # [[line, sku, name, price_cents, stock or null], ...]
    total_rows = models.IntegerField()
    done_rows = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    status = models.TextField(choices=Status.choices, default=Status.QUEUED)
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "product_imports"
        ordering = ("-id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done_rows__gte=0, done_rows__lte=models.F("total_rows")),
                name="ck_product_imports_done_rows",
            )
        ]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.filename})"


class ProductImportBatch(models.Model):
    """What one committed batch of an import did, as lines of the result file."""

    product_import = models.ForeignKey(
        ProductImport, on_delete=models.CASCADE, related_name="batches"
    )
    first_row = models.IntegerField()  # index into ProductImport.rows
    outcome = models.TextField()  # CSV lines: line,sku,outcome,stock_before,stock_after
    written_at = models.DateTimeField(auto_now_add=True)  # just before its commit

    class Meta:
        db_table = "product_import_batches"
        constraints = [
            models.UniqueConstraint(
                fields=["product_import", "first_row"], name="uq_product_import_batches_row"
            )
        ]
