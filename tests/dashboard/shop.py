"""The tasks of a small shop, for the dashboard's screenshot: names and errors people recognise."""

from __future__ import annotations

import random
import threading
import time

from tasq import RetryTask

release = threading.Event()


class SMTPServerDisconnected(Exception):
    pass


class CardDeclined(Exception):
    pass


def send_receipt(order_id: int, to: str) -> None:
    time.sleep(random.uniform(0.004, 0.03))
    if order_id % 97 == 0:
        raise SMTPServerDisconnected("Connection unexpectedly closed: mail.example.com:587")


def resize_image(path: str, width: int = 640) -> None:
    time.sleep(random.uniform(0.01, 0.06))


def charge_card(order_id: int, amount_cents: int) -> None:
    time.sleep(random.uniform(0.02, 0.09))
    if order_id % 61 == 0:
        raise CardDeclined(f"order {order_id}: the card was declined (insufficient_funds)")


def sync_inventory(sku: str) -> None:
    time.sleep(random.uniform(0.001, 0.008))


def export_report(month: str) -> None:
    release.wait(60)


def rebuild_search_index(shard: int) -> None:
    release.wait(60)


def fetch_exchange_rates(currency: str) -> None:
    raise RetryTask("rates.example.com answered 503", delay=90)


def nightly_sales_report() -> None:
    pass


def prune_carts() -> None:
    pass
