"""Hand-made or tampered addresses and posts: a message, a form error or a 4xx, never a 500.

Found in review: ``str.isdigit()`` accepts '²' (int() refuses it), PostgreSQL refuses NUL
in text, Django's action handler filters the posted ids unchecked, and a restock could
overflow the 32-bit stock inside the database's trigger.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.django_app.backoffice.models import Order, Product, StockMovement
from tests.django_app.test_admin import CUSTOMERS, MOVEMENTS, ORDERS, PRODUCTS, RESTOCK, text

pytestmark = pytest.mark.django_db

SUPERSCRIPT_TWO = "%C2%B2"  # '²': str.isdigit() says yes, int() says no
AUTOCOMPLETE = "/admin/autocomplete/?app_label=backoffice"
CUSTOMER_PICKER = f"{AUTOCOMPLETE}&model_name=order&field_name=customer"
PRODUCT_PICKER = f"{AUTOCOMPLETE}&model_name=stockmovement&field_name=product"


@pytest.fixture
def product(shop) -> int:
    return shop.product(stock=5)


@pytest.mark.parametrize(
    "url",
    [
        f"{ORDERS}?q={SUPERSCRIPT_TWO}",
        f"{ORDERS}?q=%23{SUPERSCRIPT_TWO}",
        f"{CUSTOMERS}?q={SUPERSCRIPT_TWO}",
        f"{CUSTOMER_PICKER}&term={SUPERSCRIPT_TWO}",
    ],
)
def test_a_search_for_a_non_ascii_digit_is_a_text_search(superuser_client, product, url):
    response = superuser_client.get(url)
    assert response.status_code == 200


def test_a_restock_link_with_a_non_ascii_digit_is_no_selection(superuser_client, product):
    response = superuser_client.get(f"{RESTOCK}?ids={SUPERSCRIPT_TWO}&ids={product}")
    assert response.status_code == 200
    assert Product.objects.get(pk=product).sku in text(response)
    response = superuser_client.get(f"{RESTOCK}?ids={SUPERSCRIPT_TWO}", follow=True)
    assert response.status_code == 200
    assert "Select the products to restock first" in text(response)


@pytest.mark.parametrize(
    "url",
    [
        f"{ORDERS}?status__exact=paid%00",
        f"{PRODUCTS}?sku__exact=%00",
        f"{MOVEMENTS}?reason__exact=restock%00",
        f"{CUSTOMER_PICKER}&term=a%00",
        f"{PRODUCT_PICKER}&term=a%00",
        f"{ORDERS}?q%00=x",
    ],
)
def test_a_nul_in_the_address_is_a_400(superuser_client, product, url):
    response = superuser_client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize("selected", ["abc", "\u00b2", "1\x00", ""])
@pytest.mark.parametrize(
    ("changelist", "action"),
    [
        (ORDERS, "cancel"),
        (PRODUCTS, "restock_selected"),
        ("/admin/auth/user/", "delete_selected"),
        ("/admin/auth/group/", "delete_selected"),
    ],
)
def test_an_action_posted_with_a_bad_id_is_a_message(
    superuser_client, shop, selected, changelist, action
):
    placed = shop.order({shop.product(stock=3): 1}, customer=shop.customer())
    data = {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [str(placed), selected]}
    response = superuser_client.post(changelist, data, follow=True)
    assert response.status_code == 200
    assert "The selection was not valid" in text(response)
    assert Order.objects.get(pk=placed).status == "placed"  # nothing moved


def test_a_restock_past_the_largest_stock_is_a_message(superuser_client, shop):
    full = shop.product(stock=2_147_000_000)
    other = shop.product(stock=1)
    response = superuser_client.post(
        f"{RESTOCK}?ids={full}&ids={other}", {"quantity": "1000000"}, follow=True
    )
    assert response.status_code == 200
    page = text(response)
    sku = Product.objects.get(pk=full).sku
    assert f"{sku} was not restocked: the result would be larger than the database can hold" in (
        page
    )
    assert Product.objects.get(pk=full).stock == 2_147_000_000
    assert Product.objects.get(pk=other).stock == 1_000_001  # the others still restocked
    assert StockMovement.objects.filter(product_id=full).count() == 1
