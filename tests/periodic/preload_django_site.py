"""A Django project in one module (settings, URLconf, WSGI app) with an ``every=1`` periodic
task: served by gunicorn with --preload in the serving tests, which send it no request.

``DJANGO_SETTINGS_MODULE=preload_django_site``; gunicorn serves ``preload_django_site:application``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import slot_log

SECRET_KEY = "tests-only"
USE_TZ = True
INSTALLED_APPS = ["tasq.contrib.django"]
DATABASES: dict[str, object] = {}
ROOT_URLCONF = __name__
ALLOWED_HOSTS = ["127.0.0.1"]
TASQ = {"NAME": "preload_django_site", "WORKERS": 2}
urlpatterns: list[object] = []

if os.environ.get("DJANGO_SETTINGS_MODULE") == __name__ and "SLOT_LOG" in os.environ:
    from django.core.wsgi import get_wsgi_application

    import tasq

    application = get_wsgi_application()
    _log = slot_log.open_log(os.environ["SLOT_LOG"])

    @tasq.periodic(every=1)
    def beat() -> None:
        slot_log.write_run(_log)

    os.write(_log, f"loaded {os.getpid()} {time.time():.3f}\n".encode())
