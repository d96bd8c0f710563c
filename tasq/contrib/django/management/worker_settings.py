"""Imported first by each process of ``manage.py tasq_worker``: Django set up, then the
command's ``--backend`` and ``--broker-url`` put over ``settings.TASQ``.

So the engine a worker process makes from ``settings.TASQ`` (its name, hooks, Django's
signals and connection hygiene) is an engine of the backend and broker that process
serves, whatever the settings say. The command hands the two values down in the
environment, which every worker process inherits, spawned or forked.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.signals import setting_changed

import tasq.contrib.django.worker  # noqa: F401 - django.setup()
from tasq.contrib.django.management.commands.tasq_worker import BACKEND, BROKER_URL

__all__ = ["apply"]


def apply() -> None:
    """``settings.TASQ`` with the command's choices, and the engine made anew from it."""
    chosen = {key: os.environ.get(variable, "") for key, variable in (("BACKEND", BACKEND), ("BROKER_URL", BROKER_URL))}
    chosen = {key: value for key, value in chosen.items() if value}
    configured = getattr(settings, "TASQ", {})
    if not chosen or all(configured.get(key) == value for key, value in chosen.items()):
        return
    settings.TASQ = {**configured, **chosen}
    setting_changed.send(sender=type(settings), setting="TASQ", value=settings.TASQ, enter=True)


apply()
