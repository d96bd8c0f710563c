"""Imported first by each process of ``manage.py tasq_worker``: sets Django up there.

A worker process may start from scratch (spawn, forkserver) rather than as a copy of the
command's process, so it sets Django up itself, from the DJANGO_SETTINGS_MODULE that
manage.py put in the environment. The app's engine then comes with its signals and its
database hygiene, as in the web process.
"""

from __future__ import annotations

import django

django.setup()
