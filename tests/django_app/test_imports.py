"""The product import: a file is validated whole (the database's own rules included) before
anything is written; a job writes it in batches, idempotent by SKU, also when retried."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from apps.django_app.backoffice import imports
from apps.django_app.backoffice.models import Product, ProductImport, StockMovement
from tests.data import unique

pytestmark = pytest.mark.django_db

IMPORT = "/admin/backoffice/product/import/"


def csv_of(rows: list[tuple], header: str = "sku,name,price_cents,stock") -> bytes:
    return (header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)).encode()


def skus(n: int) -> list[str]:
    base = unique("IMP").upper().replace("_", "-")
    return [f"{base}-{i:05d}" for i in range(n)]


def jobs(task: str = "backoffice.import_products") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id", [task]
        )
        return cursor.fetchall()


def upload(client, data: bytes, name: str = "catalogue.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, data, "text/csv")})


def page_errors(response) -> list[str]:
    page = response.content.decode()
    block = re.search(r'id="import-errors">(.*?)</div>', page, re.S)
    assert block, page[:2000]
    items = re.findall(r"<li>(.*?)</li>", block[1], re.S)
    return [html.unescape(re.sub(r"\s+", " ", li).strip()) for li in items]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            "sku,name,price_cents\nAB-1,Café,100\n".encode("latin-1"),
            "line 2: the file is not UTF-8",
        ),
        (b"sku,name\nAB-1,Thing\n", "line 1: the header must be sku,name,price_cents"),
        (
            b"sku,name,price_cents\nAB-1,One,1\nAB-1,Two,2\n",
            "line 3: SKU AB-1 is already on line 2",
        ),
        (
            b"sku,name,price_cents\nAB-1,One,-5\n",
            "line 2: price_cents -5: the price cannot be negative"
            " (ck_products_price_cents_non_negative)",
        ),
        (
            b"sku,name,price_cents\nab 1,One,5\n",
            "line 2: SKU 'ab 1': the SKU must be capital letters, digits and dashes"
            " (ck_products_sku_format)",
        ),
        (b"sku,name,price_cents\nAB-1,,5\n", "line 2: name of 0 characters"),
        (b"sku,name,price_cents\nAB-1,One,1.50\n", "line 2: price_cents '1.50' is not a whole"),
        (b"sku,name,price_cents,stock\nAB-1,One,1,-3\n", "stock cannot be negative"),
        (b"sku,name,price_cents\nAB-1,One,1,extra\n", "line 2: 4 fields, the header has 3"),
        (b"\n", "the file is empty"),
        (b"sku,name,price_cents\n", "the file has a header but no products"),
    ],
)
def test_a_bad_file_says_which_line_and_writes_nothing(superuser_client, data, expected):
    products, imported = Product.objects.count(), ProductImport.objects.count()
    response = upload(superuser_client, data)
    assert response.status_code == 200
    errors = page_errors(response)
    assert any(e.startswith(expected) or expected in e for e in errors), errors
    assert "Nothing was imported" in response.content.decode()
    assert (Product.objects.count(), ProductImport.objects.count()) == (products, imported)
    assert jobs() == []


def test_an_empty_upload_is_a_form_error(superuser_client):
    response = upload(superuser_client, b"")
    assert "The submitted file is empty." in response.content.decode()
    assert ProductImport.objects.count() == 0


def test_every_bad_line_is_listed_not_only_the_first(superuser_client):
    data = csv_of([("ok-lower", "x", 1, 1), ("OK-1", "y", -1, 1), ("OK-2", "z" * 201, 1, 1)])
    errors = page_errors(upload(superuser_client, data))
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4"]


def test_a_50_mb_file_is_refused_before_it_is_read(superuser_client):
    data = b"sku,name,price_cents\n" + b"AB-1,x,1\n" * (50 * 2**20 // 9)
    errors = page_errors(upload(superuser_client, data))
    assert errors == ["the file is 52.4 MB; at most 20 MB per import"]
    assert ProductImport.objects.count() == 0


def test_the_database_rules_are_read_from_the_database(superuser_client, session_db):
    """A CHECK the back office has never heard of refuses a line too, by its name."""
    with session_db.connect(autocommit=True) as owner:
        owner.execute(
            "ALTER TABLE shop.products ADD CONSTRAINT ck_products_demo_no_zzz"
            " CHECK (sku NOT LIKE 'ZZZ%') NOT VALID"
        )
    try:
        errors = page_errors(upload(superuser_client, b"sku,name,price_cents\nZZZ-1,x,1\n"))
    finally:
        with session_db.connect(autocommit=True) as owner:
            owner.execute("ALTER TABLE shop.products DROP CONSTRAINT ck_products_demo_no_zzz")
    assert errors == ["line 2: SKU 'ZZZ-1': refused by the database (ck_products_demo_no_zzz)"]


def test_a_good_file_is_deferred_with_its_record_and_runs_idempotently(superuser_client):
    names = skus(3)
    data = csv_of(
        [(names[0], "First", 100, 5), (names[1], "Second", 250, 0), (names[2], "Third", 1, "")]
    )
    response = upload(superuser_client, data)
    assert response.status_code == 302
    record = ProductImport.objects.get()
    assert response["Location"] == f"{IMPORT}{record.pk}/"
    assert [job[0] for job in jobs()] == [record.job_id]
    assert json.loads(jobs()[0][1]) == {"import_id": record.pk}
    page = superuser_client.get(response["Location"]).content.decode()
    assert 'data-state="queued"' in page and 'http-equiv="refresh"' in page

    imports.run(record.pk)
    products = {p.sku: p for p in Product.objects.filter(sku__in=names)}
    assert [(products[s].name, products[s].price_cents, products[s].stock) for s in names] == [
        ("First", 100, 5), ("Second", 250, 0), ("Third", 1, 0),
    ]  # fmt: skip
    movement = StockMovement.objects.get(product=products[names[0]])
    assert (movement.delta, movement.reason) == (5, "restock")
    assert movement.actor == f"backoffice:{record.username}:import:{record.pk}"
    record.refresh_from_db()
    assert (record.status, record.done_rows, record.created, record.updated) == ("done", 3, 3, 0)
    page = superuser_client.get(response["Location"]).content.decode()
    assert 'data-state="done"' in page and "http-equiv" not in page
    result = superuser_client.get(f"{IMPORT}{record.pk}/result.csv")
    assert b"".join(result.streaming_content).decode().splitlines() == [
        "line,sku,outcome,stock_before,stock_after",
        f"2,{names[0]},created,0,5",
        f"3,{names[1]},created,0,0",
        f"4,{names[2]},created,0,0",
    ]

    # The same file again changes nothing; a changed price and stock change just those.
    upload(superuser_client, data)
    again = ProductImport.objects.order_by("-pk").first()
    imports.run(again.pk)
    again.refresh_from_db()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert StockMovement.objects.filter(product__sku__in=names).count() == 1
    upload(superuser_client, csv_of([(names[0], "First", 120, 2)]))
    third = ProductImport.objects.order_by("-pk").first()
    imports.run(third.pk)
    product = Product.objects.get(sku=names[0])
    assert (product.price_cents, product.stock) == (120, 2)
    adjust = StockMovement.objects.filter(product=product).order_by("-pk").first()
    assert (adjust.delta, adjust.reason) == (-3, "adjust")


def test_a_batch_retried_after_its_commit_changes_nothing(superuser_client, monkeypatch):
    """A retried job goes on from the checkpoint; even a batch written again (its
    checkpoint lost) leaves stock as the file says: the stock is a target, not a delta."""
    monkeypatch.setattr(imports, "BATCH", 2)
    names = skus(5)
    rows = [(s, f"Product {i}", 100 + i, 10 + i) for i, s in enumerate(names)]
    upload(superuser_client, csv_of(rows))
    record = ProductImport.objects.get()
    calls = iter([False, True])
    with pytest.raises(imports.Stopped):
        imports.run(record.pk, should_stop=lambda: next(calls))
    record.refresh_from_db()
    assert (record.status, record.done_rows) == ("running", 4)
    # As if the second batch's writes had happened without its checkpoint: written again.
    record.batches.filter(first_row__gte=2).delete()
    ProductImport.objects.filter(pk=record.pk).update(done_rows=2)
    imports.run(record.pk)
    stock = dict(Product.objects.filter(sku__in=names).values_list("sku", "stock"))
    assert stock == {s: 10 + i for i, s in enumerate(names)}
    assert StockMovement.objects.filter(product__sku__in=names).count() == 5


def test_a_deferral_rolled_back_leaves_no_job(superuser):
    rows = imports.parse(csv_of([(skus(1)[0], "x", 1, 1)]))
    with pytest.raises(RuntimeError), transaction.atomic():
        imports.start(filename="a.csv", rows=rows, user=superuser, username=superuser.username)
        assert len(jobs()) == 1  # deferred, on Django's connection, in this transaction
        raise RuntimeError("the business action fails after deferring")
    assert jobs() == [] and ProductImport.objects.count() == 0


def test_importing_takes_add_change_and_restock_permissions(clerk_client):
    assert clerk_client.get(IMPORT).status_code == 403
    page = clerk_client.get("/admin/backoffice/product/").content.decode()
    assert "Import CSV" not in page


def test_the_product_list_offers_the_import(superuser_client):
    page = superuser_client.get("/admin/backoffice/product/").content.decode()
    assert f'href="{IMPORT}"' in page and "Import CSV" in page
    assert superuser_client.get(f"{IMPORT}999999/").status_code == 404
    assert superuser_client.get(f"{IMPORT}999999/result.csv").status_code == 404
