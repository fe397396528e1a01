"""The staff-facing admin: declarative classes whose actions call the services.

The admin offers only what the back office's database role may do (docs/design.md, Roles):
add products and change their name, price and active flag; restock (a movement); move an
order's status. Nothing is deleted anywhere, customers, orders, lines and movements are
read-only, and an order changes only through its actions. Lists stay fast on a million
rows: joins in one query, no full-table COUNT, sorting only on indexed columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from procrastinate.contrib.django import models as procrastinate_models

from apps.django_app.backoffice import imports, services
from apps.django_app.backoffice.errors import BackofficeError
from apps.django_app.backoffice.models import (
    Customer,
    FeedItem,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProductImport,
    ShopSettings,
    StockMovement,
)
from apps.django_app.backoffice.paginator import EstimatedCountPaginator

# procrastinate's own admin pages (jobs, workers, events) are not offered: an import has
# its own page, and their retry and abort actions would run around it.
for _model in (
    procrastinate_models.ProcrastinateJob,
    procrastinate_models.ProcrastinateEvent,
    procrastinate_models.ProcrastinateWorker,
    procrastinate_models.ProcrastinatePeriodicDefer,
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)

admin.site.site_header = "mergepoint back office"
admin.site.site_title = "mergepoint back office"
admin.site.index_title = "Back office"
admin.site.index_template = "admin/backoffice/index.html"  # the staff feed above the models

# The most rows one action may touch (each is its own transaction).
ACTION_LIMIT = 500
RECENT_ORDERS = 20


def money(cents: int | None) -> str:
    if cents is None:
        return "-"
    return f"{cents / 100:,.2f}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# A number the admin looks a row up by: ASCII digits only (str.isdigit() also accepts
# '²', which int() refuses), and short enough for a bigint.
NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(term: str) -> int | None:
    return int(term) if NUMBER.fullmatch(term) else None


class ValidSelectionMixin:
    """An action posted with a selected id that is not one (a tampered or stale form) is a
    message, not a 500: Django's own ``response_action`` filters ``pk__in`` unchecked."""

    def response_action(self, request, queryset):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            self.message_user(
                request, "The selection was not valid; select the rows again.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ReadOnlyAdmin(ValidSelectionMixin, admin.ModelAdmin):
    """Viewing only: the role may select these rows and nothing else."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # "Show counts" would COUNT the whole table

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LowStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        # The shop's one threshold (shop.settings): the stock.low event uses it too.
        return (
            ("out", "Out of stock"),
            ("low", f"Low (at or below {ShopSettings.threshold()})"),
        )

    def queryset(self, request, queryset):
        if self.value() == "out":
            return queryset.filter(stock=0)
        if self.value() == "low":
            return queryset.filter(stock__lte=ShopSettings.threshold())
        return queryset


class RestockForm(forms.Form):
    quantity = forms.IntegerField(
        min_value=1,
        max_value=services.MAX_RESTOCK,
        help_text="Units to add to each product listed above.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with the header sku,name,price_cents and optionally stock (the stock"
        " each product should have); prices in cents. Every line is checked before anything"
        " is written; importing the same file again changes nothing.",
    )


# A whole address, as ck_customers_email_format has it: found through the unique index on
# lower(email) at once; anything else is a substring search (a scan of the customers).
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def customers_matching(term: str) -> QuerySet[Customer]:
    if EMAIL.match(term):
        return Customer.objects.alias(email_lower=Lower("email")).filter(email_lower=term.lower())
    return Customer.objects.filter(email__icontains=term)


def _ids(values: list[str]) -> list[int]:
    return sorted({n for n in map(whole_number, values) if n is not None})


@admin.register(Product)
class ProductAdmin(ValidSelectionMixin, admin.ModelAdmin):
    list_display = ("sku", "name", "price", "stock", "active", "updated_at")
    list_filter = ("active", LowStockFilter)
    search_fields = ("sku", "name")
    ordering = ("sku",)
    actions = ("restock_selected",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # "Show counts" would COUNT the whole table
    readonly_fields = ("stock", "created_at", "updated_at")
    change_form_template = "admin/backoffice/product/change_form.html"
    change_list_template = "admin/backoffice/product/change_list.html"
    # The columns are `text`; a SKU or a name is still one line.
    formfield_overrides = {models.TextField: {"widget": forms.TextInput(attrs={"size": 60})}}

    @admin.display(description="price", ordering="price_cents")
    def price(self, obj: Product) -> str:
        return money(obj.price_cents)

    def get_fields(self, request, obj=None):
        if obj is None:  # a new product starts with stock 0; restock it once saved
            return ("sku", "name", "price_cents", "active")
        return ("sku", "name", "price_cents", "active", "stock", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("sku", *self.readonly_fields)  # the role may not update a SKU

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_restock_permission(self, request: HttpRequest) -> bool:
        # The restock page lists the products' names and stock: restocking means seeing them.
        return request.user.has_perm("backoffice.restock_product") and self.has_view_permission(
            request
        )

    def has_import_permission(self, request: HttpRequest) -> bool:
        # An import creates products, changes their names and prices, and restocks them.
        return all(
            request.user.has_perm(f"backoffice.{p}")
            for p in ("add_product", "change_product", "restock_product")
        )

    def changelist_view(self, request, extra_context=None):
        context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, context)

    def save_model(self, request, obj, form, change):
        if change:
            services.update_product(obj, form.changed_data)
        else:
            services.create_product(obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {
            **(extra_context or {}),
            "can_restock": self.has_restock_permission(request),
            # The panel's storefront: this host ("") or, with two hosts, its origin.
            "storefront_url": settings.BACKOFFICE_STOREFRONT_URL,
        }
        try:
            return super().changeform_view(request, object_id, form_url, context)
        except BackofficeError as exc:
            self.message_user(request, f"The product was not saved: {exc}.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_urls(self):
        restock = path(
            "restock/",
            self.admin_site.admin_view(self.restock_view),
            name="backoffice_product_restock",
        )
        view = self.admin_site.admin_view
        imports_ = [
            path("import/", view(self.import_view), name="backoffice_product_import"),
            path(
                "import/<int:pk>/",
                view(self.import_progress_view),
                name="backoffice_product_import_progress",
            ),
            path(
                "import/<int:pk>/result.csv",
                view(self.import_result_view),
                name="backoffice_product_import_result",
            ),
        ]
        return [restock, *imports_, *super().get_urls()]

    def _import_context(self, request: HttpRequest, title: str) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.opts}

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a catalogue CSV: validated whole (nothing is written if any line is bad),
        then written by a job while the progress page follows it."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors: list[imports.LineError] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > imports.MAX_BYTES:  # refused before it is read
                    raise imports.ImportRefused(
                        [imports.LineError(None, f"the file is {upload.size / 1e6:.1f} MB; at"
                                           f" most {imports.MAX_BYTES // 2**20} MB per import")]
                    )  # fmt: skip
                rows = imports.parse(upload.read())
            except imports.ImportRefused as exc:
                errors = exc.errors
            else:
                record = imports.start(
                    filename=upload.name or "upload.csv",
                    rows=rows,
                    user=request.user,
                    username=request.user.get_username(),
                )
                self.message_user(
                    request,
                    f"{plural(record.total_rows, 'product')} to import: the import runs"
                    " in the background.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:backoffice_product_import_progress", args=[record.pk])
                )
        context = {
            **self._import_context(request, "Import products from CSV"),
            "form": form,
            "errors": errors[: imports.MAX_SHOWN],
            "more_errors": max(0, len(errors) - imports.MAX_SHOWN),
            "recent": ProductImport.objects.only(
                "id", "filename", "status", "total_rows", "done_rows", "created_at", "username"
            )[:10],
            "max_mb": imports.MAX_BYTES // 2**20,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/backoffice/product/import.html", context)

    def import_progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        record = ProductImport.objects.defer("rows").filter(pk=pk).first()
        if record is None:
            raise Http404("no such import")
        context = {
            **self._import_context(request, f"Import #{record.pk}: {record.filename}"),
            "record": record,
            "state": imports.state(record),
            "percent": 100 * record.done_rows // max(1, record.total_rows),
        }
        return TemplateResponse(request, "admin/backoffice/product/import_progress.html", context)

    def import_result_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        record = ProductImport.objects.defer("rows").filter(pk=pk).first()
        if record is None or record.status != ProductImport.Status.DONE:
            raise Http404("no finished import with this number")
        response = StreamingHttpResponse(imports.result_lines(record), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{record.pk}-result.csv"'
        return response

    @admin.action(description="Restock selected products…", permissions=["restock"])
    def restock_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: ACTION_LIMIT + 1])
        if len(ids) > ACTION_LIMIT:
            self.message_user(
                request,
                f"Select at most {ACTION_LIMIT} products to restock at once.",
                messages.ERROR,
            )
            return None
        query = urlencode([("ids", pk) for pk in ids])
        return HttpResponseRedirect(f"{reverse('admin:backoffice_product_restock')}?{query}")

    def restock_view(self, request: HttpRequest) -> HttpResponse:
        """Ask how many units to add, then restock each product in its own transaction."""
        if not self.has_restock_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:backoffice_product_changelist")
        ids = _ids(request.GET.getlist("ids"))[:ACTION_LIMIT]
        products = list(Product.objects.filter(pk__in=ids).order_by("sku"))
        if not products:
            self.message_user(request, "Select the products to restock first.", messages.WARNING)
            return HttpResponseRedirect(changelist)
        form = RestockForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            quantity = form.cleaned_data["quantity"]
            actor = services.staff_actor(request.user.get_username())
            done = []
            for product in products:
                try:
                    services.restock(product, quantity, actor)
                except BackofficeError as exc:
                    self.message_user(
                        request, f"{product.sku} was not restocked: {exc}.", messages.ERROR
                    )
                else:
                    done.append(f"{product.sku} (now {product.stock})")
            if done:
                self.message_user(
                    request,
                    f"Restocked {quantity} units of {plural(len(done), 'product')}: "
                    + ", ".join(done)
                    + ".",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "title": "Restock products",
            "opts": self.opts,
            "products": products,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/backoffice/product/restock.html", context)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("product", "quantity", "unit_price", "line_total")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="unit price")
    def unit_price(self, line: OrderLine) -> str:
        return money(line.unit_price_cents)

    @admin.display(description="total")
    def line_total(self, line: OrderLine) -> str:
        return money(line.quantity * line.unit_price_cents)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "status", "total", "placed_at")
    list_select_related = ("customer",)
    list_filter = ("status", "placed_at")
    search_fields = ("customer__email",)
    search_help_text = (
        "An order number, a customer number, a customer's full email (exact), or part of one."
    )
    sortable_by = ("id", "placed_at")  # the indexed ones
    ordering = ("-id",)
    fields = ("customer", "status", "total", "placed_at", "updated_at")
    readonly_fields = fields
    # Were the customer ever editable here, it would be an autocomplete, never a <select>.
    autocomplete_fields = ("customer",)
    inlines = (OrderLineInline,)
    actions = ("mark_paid", "ship", "cancel")
    change_form_template = "admin/backoffice/order/change_form.html"
    # The buttons an order's page offers, by its status (the same moves as the database).
    BUTTONS = {
        OrderStatus.PLACED: (("mark_paid", "Mark paid"), ("cancel", "Cancel order")),
        OrderStatus.PAID: (("ship", "Ship"), ("cancel", "Cancel order")),
    }

    @admin.display(description="total", ordering="total_cents")
    def total(self, order: Order) -> str:
        return money(order.total_cents)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        buttons = ()
        if order is not None and self.has_change_status_permission(request):
            buttons = self.BUTTONS.get(order.status, ())
        context = {**(extra_context or {}), "order_actions": buttons}
        return super().change_view(request, object_id, form_url, context)

    def has_change_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backoffice.change_order_status")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lstrip("#")
        number = whole_number(term)
        if number is not None:
            return queryset.filter(Q(pk=number) | Q(customer_id=number)), False
        if not term:
            return queryset, False
        return queryset.filter(customer__in=customers_matching(term).values("pk")), False

    def _move(self, request, queryset, service: Callable[[Order, str], Order], verb: str) -> None:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: ACTION_LIMIT + 1])
        if len(ids) > ACTION_LIMIT:
            self.message_user(
                request, f"Select at most {ACTION_LIMIT} orders at once.", messages.ERROR
            )
            return
        done = 0
        actor = services.staff_actor(request.user.get_username())
        for order in Order.objects.filter(pk__in=ids).order_by("pk"):
            try:
                service(order, actor)
            except BackofficeError as exc:
                self.message_user(
                    request, f"Order #{order.pk} could not be {verb}: {exc}.", messages.WARNING
                )
            else:
                done += 1
        if done:
            self.message_user(
                request, f"{capfirst(plural(done, 'order'))} {verb}.", messages.SUCCESS
            )

    @admin.action(description="Mark selected orders paid", permissions=["change_status"])
    def mark_paid(self, request, queryset):
        self._move(request, queryset, services.mark_paid, "marked paid")

    @admin.action(description="Ship selected orders", permissions=["change_status"])
    def ship(self, request, queryset):
        self._move(request, queryset, services.ship, "shipped")

    @admin.action(
        description="Cancel selected orders (returns their stock)", permissions=["change_status"]
    )
    def cancel(self, request, queryset):
        self._move(request, queryset, services.cancel, "cancelled")


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("id", "email", "name", "created_at")
    search_fields = ("email", "name")
    search_help_text = "A customer number, a full email (exact), or part of an email or name."
    sortable_by = ("id",)
    ordering = ("-id",)
    fields = ("email", "name", "created_at", "orders")
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        number = whole_number(term)
        if number is not None:
            return queryset.filter(pk=number), False
        if EMAIL.match(term):
            return queryset.filter(pk__in=customers_matching(term).values("pk")), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="orders")
    def orders(self, customer: Customer) -> str:
        recent = list(customer.orders.order_by("-id")[:RECENT_ORDERS])
        if not recent:
            return "No orders yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:backoffice_order_change", args=[order.pk]),
                    order.pk,
                    order.status,
                    money(order.total_cents),
                    order.placed_at.strftime("%Y-%m-%d %H:%M"),
                )
                for order in recent
            ),
        )
        everything = (
            reverse("admin:backoffice_order_changelist")
            + "?"
            + urlencode({"customer__id__exact": customer.pk})
        )
        return format_html(
            "<table><thead><tr><th>order</th><th>status</th><th>total</th><th>placed</th>"
            '</tr></thead><tbody>{}</tbody></table><p><a href="{}">All orders of {}</a></p>',
            rows,
            everything,
            customer.email,
        )


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = ("id", "product", "delta", "reason", "order_number", "actor", "created_at")
    list_select_related = ("product",)
    list_filter = ("reason",)
    search_fields = ("product__sku", "actor")
    sortable_by = ("id",)
    ordering = ("-id",)
    fields = ("product", "delta", "reason", "order", "actor", "created_at")
    readonly_fields = fields
    autocomplete_fields = ("product",)

    @admin.display(description="order")
    def order_number(self, movement: StockMovement) -> str:
        return f"#{movement.order_id}" if movement.order_id else "-"


# Django's own user and group pages get the same guard on their (delete) action.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class StaffUserAdmin(ValidSelectionMixin, UserAdmin):
    pass


@admin.register(Group)
class StaffGroupAdmin(ValidSelectionMixin, GroupAdmin):
    pass


@admin.register(ShopSettings)
class ShopSettingsAdmin(admin.ModelAdmin):
    """The one row of shop settings: changed, never added or deleted."""

    fields = ("low_stock_threshold",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("admin:backoffice_shopsettings_change", args=["True"]))

    def save_model(self, request, obj, form, change):
        try:
            services.set_low_stock_threshold(obj.low_stock_threshold)
        except BackofficeError as exc:
            self.message_user(request, f"Not saved: {exc}.", messages.ERROR)


@admin.register(FeedItem)
class FeedItemAdmin(ValidSelectionMixin, admin.ModelAdmin):
    """The staff feed (new orders, low stock), written by `manage.py consume_events`."""

    list_display = ("created_at", "kind", "message", "seen")
    list_filter = ("kind", ("seen_at", admin.EmptyFieldListFilter))
    ordering = ("-id",)
    actions = ("mark_seen",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    @admin.display(boolean=True)
    def seen(self, item: FeedItem) -> bool:
        return item.seen_at is not None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in FeedItem._meta.fields]

    @admin.action(description="Mark selected items seen", permissions=["change"])
    def mark_seen(self, request, queryset):
        marked = services.mark_seen(queryset.filter(seen_at__isnull=True), request.user)
        self.message_user(request, f"{capfirst(plural(marked, 'item'))} marked seen.")

    def get_urls(self):
        seen = path(
            "seen/",
            self.admin_site.admin_view(self.mark_seen_view),
            name="backoffice_feeditem_seen",
        )
        return [seen, *super().get_urls()]

    def mark_seen_view(self, request: HttpRequest) -> HttpResponse:
        """The admin index's "mark seen" button (POST, CSRF-checked): the items listed."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        ids = _ids(request.POST.getlist("ids"))[:ACTION_LIMIT]
        marked = services.mark_seen(
            FeedItem.objects.filter(pk__in=ids, seen_at__isnull=True), request.user
        )
        self.message_user(request, f"{capfirst(plural(marked, 'item'))} marked seen.")
        return HttpResponseRedirect(reverse("admin:index"))
