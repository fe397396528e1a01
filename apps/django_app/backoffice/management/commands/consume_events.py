"""``manage.py consume_events``: the staff feed, from the shared schema's events."""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from apps.django_app.backoffice import events


class Command(BaseCommand):
    help = "Turn order.placed and stock.low events into the staff feed, until SIGTERM/Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=100, help="Events per transaction.")
        parser.add_argument(
            "--interval", type=float, default=0.015, help="Seconds between polls when idle."
        )

    def handle(self, *args: object, **options: object) -> None:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("apps.django_app.backoffice.events").setLevel(logging.INFO)
        # Consumers connect directly (never through a pooler), under their own name.
        connection.settings_dict.setdefault("OPTIONS", {})["application_name"] = (
            "backoffice-events"
        )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        batch = max(1, min(int(options["batch"]), 10_000))  # type: ignore[call-overload]
        interval = max(0.001, float(options["interval"]))  # type: ignore[arg-type]
        handled = events.consume(stop, limit=batch, interval=interval)
        self.stdout.write(f"events: stopped after {handled} event(s)")
