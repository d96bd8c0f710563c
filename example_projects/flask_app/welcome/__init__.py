"""Sign-up service: each new user gets a welcome mail, sent in the background by TasQ.

Run it (from this directory) with one command:

    gunicorn -k gthread --threads 16 --preload -b 127.0.0.1:8000 "welcome:create_app()"
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from tasq.contrib.flask import TasQ

from .dashboard import MOUNT, add_login, demo_auth
from .mail import init_mail, send_welcome_mail
from .models import Delivery, User, db
from .stats import TaskStats

tasq = TasQ()


def create_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SITE_NAME="TasQ Shop",
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL", "sqlite:///welcome.db"),  # in ./instance
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}, "pool_size": 10, "max_overflow": 30},
        MAIL_BUSY_RATE=float(os.environ.get("MAIL_BUSY_RATE", "0.1")),
        MAIL_SECONDS=float(os.environ.get("MAIL_SECONDS", "0.005")),
        TASQ_WORKERS=10,
        # sqlite:///PATH keeps every accepted mail task in that file until it ends, across
        # crashes and restarts, shared by every gunicorn worker; unset, tasks live in memory.
        TASQ_STORE=os.environ.get("TASQ_STORE") or None,
        # Scale-out: TASQ_BACKEND=celery (or dramatiq) TASQ_BROKER_URL=redis://... sends the mails
        # to the workers of `tasq worker welcome.worker` instead of this process's pool.
        TASQ_BACKEND=os.environ.get("TASQ_BACKEND", "thread"),
        TASQ_BROKER_URL=os.environ.get("TASQ_BROKER_URL"),
        TASQ_METRICS=True,  # Prometheus metrics at /metrics (pip install 'tasq-worker[prometheus]')
        # A span per task, children of the request's, when OpenTelemetry is installed.
        TASQ_TRACING=importlib.util.find_spec("opentelemetry") is not None,
        # The dashboard at /tasq, behind the demo's sign-in (see dashboard.py).
        SECRET_KEY=os.environ.get("SECRET_KEY") or os.urandom(32),  # the dashboard's CSRF token lives in the session
        TASQ_DASHBOARD=MOUNT,
        TASQ_DASHBOARD_AUTH=demo_auth,
        TASQ_DASHBOARD_LOGIN_URL="/login",
    )
    app.config.from_prefixed_env("WELCOME")  # e.g. WELCOME_TASQ_WORKERS=32
    app.config.update(config)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )

    db.init_app(app)
    tasq.init_app(app)  # builds this app's engine; it starts in each gunicorn worker
    init_mail(app)
    app.extensions["welcome_stats"] = TaskStats(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        if os.environ.get("RESET_DATABASE") == "1":
            db.drop_all()
        db.create_all()
        # With --preload this runs in gunicorn's master: forked workers must not share its
        # connections, so none stays open.
        db.engine.dispose()
    _add_routes(app)
    add_login(app)
    return app


def _add_routes(app: Flask) -> None:
    @app.post("/signup")
    def signup() -> Any:
        email = (request.get_json(silent=True) or {}).get("email")
        if not isinstance(email, str) or "@" not in email:
            return jsonify(error='send JSON {"email": "..."}'), 400
        user = User(email=email)
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            return jsonify(error=f"{email} has already signed up"), 409
        task_id = send_welcome_mail.enqueue(user.id)  # on this app's engine; returns at once
        return jsonify(user_id=user.id, welcome_task_id=task_id), 201

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> Any:
        found = db.get_or_404(User, user_id)
        delivery = db.session.scalar(select(Delivery).where(Delivery.user_id == user_id))
        return jsonify(
            id=found.id,
            email=found.email,
            welcome_mail_delivered_at=delivery.delivered_at.isoformat() if delivery else None,
        )

    @app.get("/stats")
    def stats() -> Any:
        return jsonify(
            pid=os.getpid(),  # every gunicorn worker has its own pool, and its own numbers
            open_mail_connections=app.extensions["mail_server"].open_connections,
            **app.extensions["welcome_stats"].snapshot(),
        )


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    # WAL lets readers and one writer work at once: request and worker threads share the file.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
