"""`make demo`: the engine on its own, every example app under its real server, then the
Flask example with a store while gunicorn's workers are killed with SIGKILL."""

from __future__ import annotations

import importlib
import sys

from . import crashdemo, engine_demo
from .report import heading, line
from .webdemo import run

# Each example's demo.py holds DEMO = WebDemo(...); one line per example app.
WEB_DEMOS: list[str] = [
    "example_projects.flask_app.demo",
    "example_projects.starlette_app.demo",
    "example_projects.fastapi_app.demo",
    "example_projects.django_project.demo",
]


def main() -> int:
    results = {"engine": engine_demo.main()}
    for module_name in WEB_DEMOS:
        demo = importlib.import_module(module_name).DEMO
        results[demo.name] = run(demo)
    results["Flask with a store: kill and restart"] = crashdemo.run()
    heading("demo results")
    for name, ok in results.items():
        line(f"{'ok  ' if ok else 'FAIL'}  {name}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
