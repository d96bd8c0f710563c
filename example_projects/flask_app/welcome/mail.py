"""The welcome mail: sent in the background, retried while the mail server is busy."""

from __future__ import annotations

import random
import threading
import time

from flask import Flask, current_app, g
from sqlalchemy import select

from tasq import RetryTask, background, backoff

from .models import Delivery, User, db


class MailboxUnavailable(Exception):
    """The mail server refused the address for good: retrying will not help."""


class MailServer:
    """A stand-in for SMTP: a few milliseconds per mail, sometimes busy, some addresses bounce."""

    def __init__(self, busy_rate: float, seconds: float) -> None:
        self.busy_rate = busy_rate
        self.seconds = seconds
        self.open_connections = 0
        self._lock = threading.Lock()

    def connect(self) -> MailServer:
        with self._lock:
            self.open_connections += 1
        return self

    def close(self) -> None:
        with self._lock:
            self.open_connections -= 1

    def send(self, to: str, subject: str) -> None:
        time.sleep(self.seconds * random.uniform(0.5, 1.5))
        if to.endswith("@invalid.example"):
            raise MailboxUnavailable(f"550 no such mailbox: {to}")
        if random.random() < self.busy_rate:
            raise ConnectionError("421 service busy, try again later")


def mail_connection() -> MailServer:
    """One connection per app context (a request, or one attempt of a task), closed at teardown."""
    if "mail" not in g:
        g.mail = current_app.extensions["mail_server"].connect()
    connection: MailServer = g.mail
    return connection


def close_mail_connection(error: BaseException | None) -> None:
    connection = g.pop("mail", None)
    if connection is not None:
        connection.close()


def init_mail(app: Flask) -> None:
    app.extensions["mail_server"] = MailServer(app.config["MAIL_BUSY_RATE"], app.config["MAIL_SECONDS"])
    app.teardown_appcontext(close_mail_connection)


@background(max_retry=4, retry_delay=backoff(0.05, max=1.0))
def send_welcome_mail(user_id: int) -> str:
    """Runs on a TasQ worker thread inside the app's context: current_app, g and db.session work."""
    user = db.session.get(User, user_id)
    if user is None:
        return "no such user"  # the account was deleted meanwhile: nobody to welcome
    if db.session.scalar(select(Delivery.id).where(Delivery.user_id == user_id)) is not None:
        # With a store, a run lost with its process (SIGKILL, OOM) runs again: this one had
        # sent the mail and recorded it before its process died. Nothing to send twice.
        return "already delivered"
    try:
        mail_connection().send(user.email, subject=f"Welcome to {current_app.config['SITE_NAME']}!")
    except ConnectionError as busy:
        raise RetryTask(str(busy)) from busy  # TasQ tries again later, up to max_retry attempts
    db.session.add(Delivery(user_id=user.id))
    db.session.commit()
    # No db.session.remove() here: the task's app context ends after each attempt, and
    # Flask-SQLAlchemy removes the session then, returning its connection to the pool.
    return "delivered"
