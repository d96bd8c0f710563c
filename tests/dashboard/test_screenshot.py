"""docs/dashboard.png: the dashboard of a Flask shop under some load, as a laptop shows it:
finished, running, delayed and retrying tasks, failures and periodic schedules.

The picture is taken on every run (and checked to be one); ``TASQ_DASHBOARD_SCREENSHOT=PATH``
keeps it, which is how docs/dashboard.png is made.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session
from selenium.webdriver.common.by import By

from tasq.contrib.flask import TasQ
from tasq.periodic import registry
from tests.dashboard import shop
from tests.dashboard.support import chrome, wait_until, wsgi_server

pytestmark = pytest.mark.timeout(120)


def shop_app() -> Flask:
    app = Flask("shop")
    app.config.update(
        SECRET_KEY="tests-only",
        TASQ_WORKERS=8,
        TASQ_MAX_RETRY=5,
        TASQ_DASHBOARD="/tasq",
        TASQ_DASHBOARD_AUTH=lambda request: session.get("role"),
    )

    @app.get("/login")
    def login() -> Any:
        session["role"] = "admin"
        return "signed in"

    return app


def test_dashboard_screenshot(tmp_path: Path) -> None:
    app = shop_app()
    engine = TasQ().init_app(app)
    schedules = [
        engine.periodic(cron="0 3 * * *")(shop.nightly_sales_report),
        engine.periodic(every=900)(shop.prune_carts),
    ]
    shop.release.clear()
    try:
        with wsgi_server(app) as base, chrome(1280, 1760) as browser:
            for order_id in range(1, 241):
                engine.submit(shop.send_receipt, order_id, f"customer{order_id}@example.com")
                engine.submit(shop.charge_card, order_id, 1999 + order_id)
                if order_id % 3 == 0:
                    engine.submit(shop.resize_image, f"uploads/{order_id}.jpg")
                engine.submit(shop.sync_inventory, f"SKU-{order_id:05d}")
            wait_until(lambda: engine.join(0.05), timeout=60, what="the first load to finish")
            engine.submit(shop.export_report, "2026-11")
            for shard in range(2):
                engine.submit(shop.rebuild_search_index, shard)
            for n in range(3):
                engine.enqueue(functools.partial(shop.sync_inventory, f"SKU-9{n:04d}"), delay=300 + 60 * n)
            engine.submit(shop.fetch_exchange_rates, "EUR")
            wait_until(lambda: engine.stats().running == 3, what="three long tasks running")
            wait_until(lambda: engine.stats().retried == 1, what="a task waiting for its retry")
            browser.get(base + "/login")
            browser.get(base + "/tasq/")
            wait_until(lambda: browser.find_elements(By.ID, "board"), what="the page")
            age = "const el = document.querySelector('time.age'); return el ? parseInt(el.textContent) : 0;"
            wait_until(lambda: browser.execute_script(age) >= 2, what="the running tasks' ages to tick")
            target = tmp_path / "dashboard.png"
            browser.save_screenshot(str(target))
    finally:
        shop.release.set()
        engine.close(timeout=10, cancel_pending=True)
        for function in schedules:
            registry.unregister(function)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("TASQ_DASHBOARD_SCREENSHOT")
    if keep:
        shutil.copyfile(target, keep)
