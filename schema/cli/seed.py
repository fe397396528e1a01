"""``mergepoint seed``: demo data, bulk-loaded."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schema import db
from schema.cli.base import owner
from schema.seed import MAX_CUSTOMERS, MAX_ORDERS, MAX_PRODUCTS, seed_shop


@click.command("seed")
@click.option("--customers", type=click.IntRange(0, MAX_CUSTOMERS), default=1_000,
              show_default=True, help="How many customers to create. Example: --customers 100000")
@click.option("--products", type=click.IntRange(0, MAX_PRODUCTS), default=200, show_default=True,
              help="How many products to create (each gets one restock). Example: --products 5000")
@click.option("--orders", type=click.IntRange(0, MAX_ORDERS), default=10_000, show_default=True,
              help="How many orders, with 1-4 lines each; every status appears from 4 orders "
              "on. One million takes well under a minute. Example: --orders 1000000")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True,
              help="Random seed: the same seed and sizes give the same rows "
              "(timestamps relative to the start of today, UTC). Example: --seed 7")
@click.option("--append", is_flag=True,
              help="Add a batch (new customers and products, and orders of those) to a shop "
              "that already has rows; without it a non-empty shop is refused. "
              "Example: mergepoint seed --append --customers 10 --products 5 --orders 500")
def seed(customers: int, products: int, orders: int, seed_value: int, append: bool) -> None:
    """Fill the shop with demo customers, products and orders, and their stock ledger.

    Everything is loaded with COPY in one transaction (the shop's tables are locked
    meanwhile) and every database rule holds afterwards: stock is the sum of the ledger,
    each order line has its sale movement, each cancelled order its cancel movements.
    Orders are spread over the last 180 days, in every status.

    \b
    Examples:
      mergepoint seed
      mergepoint seed --customers 100000 --products 5000 --orders 1000000 --seed 7
      mergepoint seed --append --customers 10 --products 5 --orders 500
    """  # fmt: skip
    if orders and not (customers and products):
        raise click.UsageError(
            "orders need customers and products: give --customers and --products above 0"
        )
    url = owner()
    bar = Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}

    def show(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with db.owner_connect(url) as conn, bar:
        result = seed_shop(
            conn,
            customers=customers,
            products=products,
            orders=orders,
            seed=seed_value,
            append=append,
            progress=show,
        )
    statuses = ", ".join(f"{s} {n:,}" for s, n in result.statuses.items())
    click.echo(
        f"seeded {result.customers:,} customers, {result.products:,} products, "
        f"{result.orders:,} orders ({statuses}), {result.order_lines:,} order lines, "
        f"{result.stock_movements:,} stock movements in {result.seconds:.1f}s "
        f"({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)"
    )
