"""The admin as staff use it: every page renders, every action works, and nobody is
offered what the back office's role may not do."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.django_app.backoffice.models import Customer, Order, Product, StockMovement
from tests.django_app.conftest import through_pooler_module

# Every admin flow runs twice: directly, and through PgBouncer in transaction mode.
pytestmark = [pytest.mark.django_db, through_pooler_module]

PRODUCTS = "/admin/backoffice/product/"
ORDERS = "/admin/backoffice/order/"
CUSTOMERS = "/admin/backoffice/customer/"
MOVEMENTS = "/admin/backoffice/stockmovement/"
RESTOCK = "/admin/backoffice/product/restock/"


def act(client, changelist, action, ids, follow=True):
    data = {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [str(i) for i in ids]}
    return client.post(changelist, data, follow=follow)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def world(shop):
    """A product with stock, and one order in each status (committed, like real data)."""
    pid = shop.product(stock=50, price=1999)
    customer = shop.customer()
    statuses = ("placed", "paid", "shipped", "cancelled")
    orders = {s: shop.order({pid: 1}, status=s, customer=customer) for s in statuses}
    return {"product": pid, "customer": customer, "orders": orders}


def test_every_page_renders_for_a_superuser(superuser_client, world):
    pid, cid, orders = world["product"], world["customer"], world["orders"]
    movement = StockMovement.objects.filter(product_id=pid).first()
    pages = [
        "/admin/",
        "/admin/backoffice/",
        PRODUCTS,
        f"{PRODUCTS}?active__exact=1",
        f"{PRODUCTS}?stock=low",
        f"{PRODUCTS}?stock=out",
        f"{PRODUCTS}?q=SKU",
        f"{PRODUCTS}add/",
        f"{PRODUCTS}{pid}/change/",
        f"{PRODUCTS}{pid}/history/",
        f"{RESTOCK}?ids={pid}",
        ORDERS,
        f"{ORDERS}?status__exact=paid",
        f"{ORDERS}?placed_at__gte=2000-01-01+00%3A00%3A00%2B00%3A00",
        f"{ORDERS}?q={orders['paid']}",
        f"{ORDERS}?q=example.test",
        f"{ORDERS}?customer__id__exact={cid}",
        f"{ORDERS}?o=2",
        *(f"{ORDERS}{oid}/change/" for oid in orders.values()),
        CUSTOMERS,
        f"{CUSTOMERS}?q=example.test",
        f"{CUSTOMERS}{cid}/change/",
        MOVEMENTS,
        f"{MOVEMENTS}?reason__exact=sale",
        f"{MOVEMENTS}?q=SKU",
        f"{MOVEMENTS}{movement.pk}/change/",
        "/admin/auth/user/",
        "/admin/auth/group/",
    ]
    for page in pages:
        response = superuser_client.get(page)
        assert response.status_code == 200, page


def test_orders_are_found_by_number_customer_number_and_email(superuser_client, shop):
    pid = shop.product(stock=5)
    customer = shop.customer()
    mine, other = shop.order({pid: 1}, customer=customer), shop.order({pid: 1})
    email = Customer.objects.get(pk=customer).email
    for term in (str(mine), f"#{mine}", str(customer), email, email.upper(), email[2:14]):
        page = text(superuser_client.get(ORDERS, {"q": term}))
        assert f'href="{ORDERS}{mine}/change/' in page, term
        if term not in (str(mine), f"#{mine}", str(customer)):
            assert f'href="{ORDERS}{other}/change/' not in page, term


def test_customers_are_found_by_number_and_email(superuser_client, shop):
    customer = shop.customer()
    email = Customer.objects.get(pk=customer).email
    for term in (str(customer), email.upper(), email[2:14], "Test Customer"):
        page = text(superuser_client.get(CUSTOMERS, {"q": term}))
        assert f'href="{CUSTOMERS}{customer}/change/' in page, term


def test_the_order_page_shows_its_lines_read_only(superuser_client, world):
    page = text(superuser_client.get(f"{ORDERS}{world['orders']['placed']}/change/"))
    assert "Order lines" in page and "19.99" in page
    assert 'name="_save"' not in page and "deletelink" not in page


def test_the_customer_page_lists_their_orders(superuser_client, world):
    page = text(superuser_client.get(f"{CUSTOMERS}{world['customer']}/change/"))
    for oid in world["orders"].values():
        assert f'href="{ORDERS}{oid}/change/"' in page
    assert f"customer__id__exact={world['customer']}" in page


def test_nothing_offers_what_the_role_may_not_do(superuser_client, world):
    """No delete anywhere; no add or edit of customers, orders or movements."""
    pid, oid, cid = world["product"], world["orders"]["placed"], world["customer"]
    for changelist in (PRODUCTS, ORDERS, CUSTOMERS, MOVEMENTS):
        page = text(superuser_client.get(changelist))
        assert "delete_selected" not in page, changelist
        if changelist != PRODUCTS:
            assert f'href="{changelist}add/"' not in page, changelist
    for change in (
        f"{PRODUCTS}{pid}/change/",
        f"{ORDERS}{oid}/change/",
        f"{CUSTOMERS}{cid}/change/",
    ):
        assert "deletelink" not in text(superuser_client.get(change)), change
    for change in (f"{ORDERS}{oid}/change/", f"{CUSTOMERS}{cid}/change/"):
        assert 'name="_save"' not in text(superuser_client.get(change)), change
    # and the URLs themselves refuse (a forged request, not a path the UI shows)
    assert superuser_client.get(f"{PRODUCTS}{pid}/delete/").status_code == 403
    assert superuser_client.get(f"{ORDERS}add/").status_code == 403
    assert superuser_client.post(f"{ORDERS}{oid}/change/", {"status": "shipped"}).status_code == 403
    assert Order.objects.get(pk=oid).status == "placed"


def test_add_a_product_then_edit_its_name_and_price(superuser_client):
    from tests.data import unique

    sku = unique("NEW")
    response = superuser_client.post(
        f"{PRODUCTS}add/", {"sku": sku, "name": "Widget", "price_cents": "450", "active": "on"}
    )
    assert response.status_code == 302
    product = Product.objects.get(sku=sku)
    assert (product.stock, product.price_cents, product.active) == (0, 450, True)
    page = text(superuser_client.get(f"{PRODUCTS}{product.pk}/change/"))
    assert 'name="sku"' not in page  # the SKU is read-only once saved
    response = superuser_client.post(
        f"{PRODUCTS}{product.pk}/change/", {"name": "Widget 2", "price_cents": "475"}
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.price_cents, product.active) == ("Widget 2", 475, False)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"sku": "lower-case", "name": "x", "price_cents": "1"}, "capital letters"),
        ({"sku": "OK-1", "name": "", "price_cents": "1"}, "This field is required"),
        ({"sku": "OK-2", "name": "x", "price_cents": "-1"}, "greater than or equal to 0"),
        ({"sku": "OK-3", "name": "x" * 201, "price_cents": "1"}, "at most 200"),
        ({"sku": "OK-4", "name": "x", "price_cents": "99999999999"}, "less than or equal to"),
        ({"sku": "OK-5", "name": "bad\x00name", "price_cents": "1"}, "Null characters"),
        ({"sku": "OK-6", "name": "x", "price_cents": "1.5"}, "Enter a whole number"),
    ],
)
def test_bad_product_input_is_a_form_error(superuser_client, data, error):
    response = superuser_client.post(f"{PRODUCTS}add/", data)
    assert response.status_code == 200
    assert error in text(response)
    assert not Product.objects.filter(sku=data["sku"]).exists()


def test_a_duplicate_sku_is_a_form_error(superuser_client, shop):
    sku = Product.objects.get(pk=shop.product()).sku
    response = superuser_client.post(
        f"{PRODUCTS}add/", {"sku": sku, "name": "x", "price_cents": "1"}
    )
    assert response.status_code == 200
    assert "already exists" in text(response)


def test_restock_action_asks_the_quantity_then_restocks(superuser_client, superuser, shop):
    first, second = shop.product(stock=1), shop.product()
    response = act(superuser_client, PRODUCTS, "restock_selected", [first, second], follow=False)
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.startswith(RESTOCK)
    page = text(superuser_client.get(form_url))
    assert 'name="quantity"' in page
    for pid in (first, second):
        assert Product.objects.get(pk=pid).sku in page
    for bad in ("0", "-3", "abc", ""):
        response = superuser_client.post(form_url, {"quantity": bad})
        assert response.status_code == 200 and "errorlist" in text(response), bad
    assert StockMovement.objects.filter(product_id__in=[first, second]).count() == 1
    response = superuser_client.post(form_url, {"quantity": "12"}, follow=True)
    assert response.redirect_chain[-1][0] == PRODUCTS
    assert "Restocked 12 units of 2 products" in text(response)
    assert Product.objects.get(pk=first).stock == 13
    assert Product.objects.get(pk=second).stock == 12
    actors = set(
        StockMovement.objects.filter(product_id__in=[first, second], delta=12).values_list(
            "actor", flat=True
        )
    )
    assert actors == {f"backoffice:{superuser.username}"}


def test_the_restock_form_without_products_sends_back_to_the_list(superuser_client):
    response = superuser_client.get(f"{RESTOCK}?ids=abc&ids=0", follow=True)
    assert response.redirect_chain[-1][0] == PRODUCTS
    assert "Select the products to restock first" in text(response)


def test_the_product_page_links_to_its_restock_form(superuser_client, shop):
    pid = shop.product()
    assert f"{RESTOCK}?ids={pid}" in text(superuser_client.get(f"{PRODUCTS}{pid}/change/"))


def test_order_actions_move_what_they_can_and_say_which_could_not(superuser_client, world):
    orders = world["orders"]
    response = act(superuser_client, ORDERS, "mark_paid", [orders["placed"], orders["shipped"]])
    page = text(response)
    assert "1 order marked paid." in page
    shipped = orders["shipped"]
    assert f"Order #{shipped} could not be marked paid: order #{shipped} is shipped" in page
    assert Order.objects.get(pk=orders["placed"]).status == "paid"

    page = text(act(superuser_client, ORDERS, "ship", [orders["placed"], orders["paid"]]))
    assert "2 orders shipped." in page
    page = text(act(superuser_client, ORDERS, "cancel", [orders["placed"], orders["cancelled"]]))
    assert f"Order #{orders['cancelled']} could not be cancelled" in page
    assert "orders cancelled" not in page and "order cancelled" not in page
    assert Order.objects.get(pk=orders["cancelled"]).status == "cancelled"


def test_the_order_page_offers_the_moves_its_status_allows(superuser_client, world):
    orders = world["orders"]
    buttons = {
        status: re.findall(
            r'<button type="submit" name="(\w+)"',
            text(superuser_client.get(f"{ORDERS}{oid}/change/")),
        )
        for status, oid in orders.items()
    }
    assert buttons == {
        "placed": ["mark_paid", "cancel"],
        "paid": ["ship", "cancel"],
        "shipped": [],
        "cancelled": [],
    }
    # a button posts the changelist action for that one order
    response = act(superuser_client, ORDERS, "ship", [orders["paid"]])
    assert "1 order shipped." in text(response)


def test_cancel_action_returns_the_stock(superuser_client, shop):
    pid = shop.product(stock=10)
    oid = shop.order({pid: 4}, status="paid")
    assert "1 order cancelled." in text(act(superuser_client, ORDERS, "cancel", [oid]))
    assert Product.objects.get(pk=pid).stock == 10


# -- clerks -------------------------------------------------------------------------


def test_a_clerk_sees_the_daily_pages(clerk_client, world):
    for page in (
        PRODUCTS,
        ORDERS,
        CUSTOMERS,
        MOVEMENTS,
        f"{ORDERS}{world['orders']['paid']}/change/",
    ):
        assert clerk_client.get(page).status_code == 200, page
    paid_page = text(clerk_client.get(f"{ORDERS}{world['orders']['paid']}/change/"))
    assert 'name="ship"' in paid_page and 'name="cancel"' in paid_page
    index = text(clerk_client.get("/admin/"))
    assert "Products" in index and "Orders" in index
    assert "Users" not in index and "Groups" not in index


def test_a_clerk_can_restock_mark_paid_ship_and_cancel(clerk_client, clerk, shop):
    pid = shop.product(stock=5)
    placed, paid, to_cancel = (shop.order({pid: 1}) for _ in range(3))
    response = act(clerk_client, PRODUCTS, "restock_selected", [pid], follow=False)
    response = clerk_client.post(response["Location"], {"quantity": "7"}, follow=True)
    assert "Restocked 7 units of 1 product" in text(response)
    assert Product.objects.get(pk=pid).stock == 5 - 3 + 7
    assert (
        StockMovement.objects.get(product_id=pid, delta=7).actor == f"backoffice:{clerk.username}"
    )

    assert "2 orders marked paid." in text(act(clerk_client, ORDERS, "mark_paid", [placed, paid]))
    assert "1 order shipped." in text(act(clerk_client, ORDERS, "ship", [paid]))
    assert "1 order cancelled." in text(act(clerk_client, ORDERS, "cancel", [to_cancel]))
    statuses = dict(
        Order.objects.filter(pk__in=[placed, paid, to_cancel]).values_list("pk", "status")
    )
    assert statuses == {placed: "paid", paid: "shipped", to_cancel: "cancelled"}


def test_a_clerk_is_refused_a_price_change(clerk_client, shop):
    pid = shop.product(price=1000)
    page = text(clerk_client.get(f"{PRODUCTS}{pid}/change/"))
    assert 'name="price_cents"' not in page and 'name="_save"' not in page
    assert "10.00" in text(clerk_client.get(PRODUCTS))
    response = clerk_client.post(f"{PRODUCTS}{pid}/change/", {"name": "x", "price_cents": "1"})
    assert response.status_code == 403
    assert Product.objects.get(pk=pid).price_cents == 1000
    assert clerk_client.get(f"{PRODUCTS}add/").status_code == 403
    assert f'href="{PRODUCTS}add/"' not in text(clerk_client.get(PRODUCTS))


def test_a_clerk_cannot_manage_users(clerk_client):
    for page in ("/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/group/"):
        assert clerk_client.get(page).status_code == 403, page


def test_without_the_permission_there_is_no_restock_or_status_action(client, shop):
    from django.contrib.auth.models import Permission

    from tests.django_app.conftest import make_user

    viewer = make_user()
    viewer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_product", "view_order"])
    )
    client.force_login(viewer)
    pid = shop.product()
    oid = shop.order({shop.product(stock=1): 1}, status="placed")
    assert "restock_selected" not in text(client.get(PRODUCTS))
    assert "mark_paid" not in text(client.get(ORDERS))
    assert "mark_paid" not in text(client.get(f"{ORDERS}{oid}/change/"))
    assert "restocklink" not in text(client.get(f"{PRODUCTS}{pid}/change/"))
    assert client.get(f"{RESTOCK}?ids={pid}").status_code == 403


def test_the_restock_permission_alone_does_not_show_products(client, shop):
    """Restocking needs both permissions: the page lists names and stock (issue 13)."""
    from django.contrib.auth.models import Permission

    from tests.django_app.conftest import make_user

    restocker = make_user()
    restocker.user_permissions.set(Permission.objects.filter(codename="restock_product"))
    client.force_login(restocker)
    pid = shop.product(stock=7, name="Secret blend")
    for response in (
        client.get(f"{RESTOCK}?ids={pid}"),
        client.post(f"{RESTOCK}?ids={pid}", {"quantity": "5"}),
    ):
        assert response.status_code == 403
        assert "Secret blend" not in text(response)
    assert shop.stock(pid) == 7

    restocker.user_permissions.add(Permission.objects.get(codename="view_product"))
    response = client.get(f"{RESTOCK}?ids={pid}")
    assert response.status_code == 200
    assert "Secret blend" in text(response)


# -- logged out ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "page", ["/admin/", PRODUCTS, ORDERS, f"{RESTOCK}?ids=1", f"{ORDERS}1/change/"]
)
def test_a_logged_out_user_is_sent_to_the_login_page(client, page):
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_the_site_root_leads_to_the_admin(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
