"""Periodic tasks in an idle app: Flask and Django under ``gunicorn --preload -w 2``, no request.

The app loads in the master, which must start nothing; each worker starts its engine as it is
forked, so the schedule runs from startup on: a run per slot, never two, none in the master.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest

from tests.periodic.conftest import Gunicorn
from tests.periodic.slot_log import read, wait_for

pytestmark = pytest.mark.timeout(60)


def booted_workers(server: Gunicorn) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.log_text())}


@pytest.mark.parametrize(
    ("target", "env"),
    [
        pytest.param("preload_flask_app:app", {}, id="flask"),
        pytest.param(
            "preload_django_site:application", {"DJANGO_SETTINGS_MODULE": "preload_django_site"}, id="django"
        ),
    ],
)
def test_an_idle_app_under_gunicorn_preload_runs_its_every_1_task_once_per_slot_from_the_workers(
    gunicorn: Callable[..., Gunicorn], target: str, env: dict[str, str]
) -> None:
    server = gunicorn(target, workers=2, preload=True, env=env)
    log = server.slot_log
    wait_for(lambda: len(booted_workers(server)) >= 2 or server.process.poll() is not None, 20, "two workers")
    assert server.process.poll() is None, server.log_text()
    workers = booted_workers(server)
    loaded = [int(line[1]) for line in read(log) if line[0] == "loaded"]
    assert loaded == [server.process.pid], "the app loads once, in the master (--preload)"

    wait_for(lambda: sum(line[0] == "run" for line in read(log)) >= 4, 15, "four runs")
    lines = read(log)
    runs = [line for line in lines if line[0] == "run"]
    slots = [line for line in lines if line[0] == "slot"]
    assert {int(line[1]) for line in runs + slots} <= workers, "only workers run the schedule, never the master"
    per_slot = Counter(line[2] for line in slots)
    assert max(per_slot.values()) == 1, f"slots run twice: {[s for s, n in per_slot.items() if n > 1]}"
    assert len(runs) <= len(slots)  # a run per slot claimed
