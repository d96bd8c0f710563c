"""Promise 14 (docs/reliability.md): 1,000 tasks using current_app, g and a Flask-SQLAlchemy session."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask, current_app, g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasq.contrib.flask import TasQ

pytestmark = pytest.mark.timeout(60)

TASKS = 1000


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Delivery(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(100))
    worker: Mapped[str] = mapped_column(String(50))


def test_a_thousand_tasks_with_app_context_g_and_session(tmp_path: Path) -> None:
    app = Flask("deliveries")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'deliveries.db'}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    app.config["TASQ_WORKERS"] = 8
    app.config["SENDER"] = "hello@example.com"
    db.init_app(app)
    extension = TasQ(app)
    with app.app_context():
        db.create_all()

    lock = threading.Lock()
    teardowns: Counter[str] = Counter()
    context_errors: list[BaseException] = []
    leftovers: list[object] = []

    @app.teardown_appcontext
    def count_teardown(error: BaseException | None) -> None:
        with lock:
            teardowns["error" if error else "ok"] += 1

    def deliver(number: int) -> None:
        try:
            if "address" in g:  # a task must never see another task's g
                leftovers.append(g.address)
            g.address = f"user{number}@example.com"
            sender = current_app.config["SENDER"]
            db.session.add(Delivery(address=g.address, worker=threading.current_thread().name))
            db.session.commit()
            assert db.session.scalar(select(func.count()).select_from(Delivery)) >= 1
            assert sender == "hello@example.com"
        except RuntimeError as error:  # "Working outside of application context" and kin
            context_errors.append(error)
            raise

    try:
        with app.app_context():
            ids = [extension.submit(deliver, number) for number in range(TASKS)]
        assert app.extensions["tasq"].join(50)
        stats = app.extensions["tasq"].stats()
        assert (stats.done, stats.failed) == (TASKS, 0)
        assert len(set(ids)) == TASKS
        # One teardown per task, plus the app_context() block that enqueued them.
        assert teardowns == Counter(ok=TASKS + 1)
        assert context_errors == []
        assert leftovers == []
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Delivery)) == TASKS
            db.session.remove()
            assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            # Every task's scoped session was removed: none is left keyed by a dead context.
            assert db.session.registry.registry == {}  # type: ignore[attr-defined]
    finally:
        app.extensions["tasq"].close(timeout=10)
        with app.app_context():
            db.engine.dispose()
