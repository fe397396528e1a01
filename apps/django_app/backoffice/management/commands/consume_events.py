"""``manage.py consume_events``: the staff feed and the sales rollup, from the shared
schema's events."""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from apps.django_app.backoffice import events


class Command(BaseCommand):
    help = (
        "Turn the shared schema's events into the staff feed (backoffice-feed) and the"
        " daily sales rollup (backoffice-sales), until SIGTERM/Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=100, help="Events per transaction.")
        parser.add_argument(
            "--interval", type=float, default=0.015, help="Seconds between polls when idle."
        )
        parser.add_argument(
            "--subscription",
            action="append",
            choices=sorted(events.HANDLERS),
            help="Consume only this subscription (repeatable; default: all of them).",
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
        chosen = options["subscription"] or list(events.HANDLERS)
        subscriptions = [name for name in events.HANDLERS if name in chosen]  # type: ignore[operator]
        handled = events.consume(
            stop, limit=batch, interval=interval, subscriptions=subscriptions
        )
        self.stdout.write(f"events: stopped after {handled} event(s)")
