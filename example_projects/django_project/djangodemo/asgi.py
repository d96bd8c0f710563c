"""For ASGI servers: `uvicorn djangodemo.asgi:application`.

TasQ's get_asgi_application() is Django's, plus a lifespan that drains the task pool when
the server shuts down (uvicorn ends a SIGTERM shutdown before exit handlers would run).
"""

import os

from tasq.contrib.django.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangodemo.settings")

application = get_asgi_application()
