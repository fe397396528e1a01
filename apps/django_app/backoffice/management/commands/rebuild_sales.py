"""``manage.py rebuild_sales``: count the daily sales rollup again from every order."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction

from apps.django_app.backoffice import sales


class Command(BaseCommand):
    help = (
        "Rebuild the daily sales rollup the admin index's dashboard reads, from every order"
        " (the event consumer does it by itself after `mergepoint seed`; this is for"
        " rows written some other way without their events)."
    )

    def handle(self, *args: object, **options: object) -> None:
        started = time.perf_counter()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                orders = sales.rebuild(cursor)
                days = sales.day_count(cursor)
        except DatabaseError as exc:
            raise CommandError(
                f"could not rebuild the sales rollup: {' '.join(str(exc).split())[:300]}"
            ) from exc
        self.stdout.write(
            f"sales: rebuilt the rollup from {orders} order(s) over {days} day(s)"
            f" in {time.perf_counter() - started:.2f} s"
        )
