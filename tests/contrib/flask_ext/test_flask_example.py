"""The Flask example project works as its README says (through Flask's test client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from example_projects.flask_app.welcome import create_app
from example_projects.flask_app.welcome.models import Delivery, db

pytestmark = pytest.mark.timeout(30)

SIGNUPS = 60


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'welcome.db'}", MAIL_BUSY_RATE=0.3, MAIL_SECONDS=0.001
    )
    yield app
    app.extensions["tasq"].close(timeout=10)
    with app.app_context():
        db.engine.dispose()


def test_signups_get_their_welcome_mail_with_retries_and_bounces(app: Flask) -> None:
    client = app.test_client()
    replies = []
    for number in range(SIGNUPS):
        domain = "invalid" if number % 20 == 19 else "mail"
        response = client.post("/signup", json={"email": f"user{number}@{domain}.example"})
        assert response.status_code == 201, response.get_data(as_text=True)
        replies.append(response.get_json())
    assert client.post("/signup", json={"email": "user0@mail.example"}).status_code == 409
    assert client.post("/signup", json={"name": "no address"}).status_code == 400
    assert app.extensions["tasq"].join(20)

    stats = client.get("/stats").get_json()
    assert (stats["enqueued"], stats["done"] + stats["failed"], stats["cancelled"]) == (SIGNUPS, SIGNUPS, 0)
    assert stats["failed"] >= 3  # three addresses bounce; a mail busy on all 4 attempts fails too
    assert stats["retried"] > 0  # the mail server is busy 30% of the time
    assert stats["open_mail_connections"] == 0  # each task's connection closed at its teardown
    assert stats["latency_ms"]["p99"] >= stats["latency_ms"]["p50"] > 0

    metrics = client.get("/metrics")  # TASQ_METRICS=True
    assert metrics.status_code == 200
    assert "tasq_tasks_succeeded_total{engine=" in metrics.get_data(as_text=True)

    first = client.get(f"/users/{replies[0]['user_id']}").get_json()
    bounced = client.get(f"/users/{replies[19]['user_id']}").get_json()
    assert first["welcome_mail_delivered_at"] is not None, (first, stats)
    assert bounced["welcome_mail_delivered_at"] is None
    with app.app_context():
        assert db.session.query(Delivery).count() == stats["done"]
    with app.app_context():
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
