"""The framework-free dashboard: escaping, JSON, the access matrix, CSRF and origin checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tasq import Stats, TasQ
from tasq.dashboard import (
    Dashboard,
    Failure,
    MemorySource,
    NameSummary,
    Request,
    Response,
    SessionCsrf,
    Snapshot,
    TaskLine,
)
from tasq.dashboard.encode import snapshot_json
from tasq.dashboard.page import render_page
from tasq.dashboard.security import as_role, check_auth, csrf_key, role_of, same_origin
from tests.dashboard import tasks
from tests.dashboard.support import SECRET, XSS, wait_until

pytestmark = pytest.mark.timeout(30)

STATS = Stats(enqueued=3, pending=1, running=1, done=0, failed=1, retried=0, cancelled=0, workers=2)


def hostile_snapshot() -> Snapshot:
    line = TaskLine(
        task_id=7, name=XSS, state="running", attempt=1, enqueued_at=1.0, started_at=2.0, run_at=None, args=XSS
    )
    return Snapshot(
        engine=XSS,
        scope=XSS,
        taken_at=10.0,
        stats=STATS,
        names=(NameSummary(name=XSS, done=1, failed=1, rate=1.0, p50=0.1, p95=0.2),),
        running=(line,),
        waiting=(replace(line, task_id=8, state="pending", started_at=None),),
        periodic=(),
        failures=(
            Failure(
                task_id=9,
                name=XSS,
                error=XSS,
                traceback=XSS,
                attempts=1,
                finished_at=5.0,
                cancelled=False,
                args=XSS,
            ),
        ),
        can_cancel=True,
        can_retry=True,
        blind=(XSS,),
    )


class FixedSource:
    """A source that answers one snapshot and records the actions asked of it."""

    def __init__(self, snapshot: Snapshot, can_cancel: bool = True) -> None:
        self._snapshot = snapshot
        self.can_cancel = can_cancel
        self.can_retry = True
        self.asked: list[tuple[str, int]] = []
        self.args_asked: list[bool] = []

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        self.args_asked.append(args)
        return self._snapshot

    def cancel(self, task_id: int) -> bool:
        self.asked.append(("cancel", task_id))
        return task_id == 8

    def retry(self, task_id: int) -> int:
        self.asked.append(("retry", task_id))
        if task_id != 9:
            raise ValueError(f"task {task_id} is not a failed task")
        return 100


CSRF = SessionCsrf(b"key", "session-secret")
OWN = "http://app.example"


def ask(dashboard: Dashboard, method: str, path: str, role: str | None = "admin", **fields: object) -> Response:
    options: dict[str, object] = {"origin": OWN, "form": {"csrf_token": CSRF.token()}}
    options.update(fields)
    return dashboard.handle(
        Request(method=method, path=path, mount="/tasq", role=role, csrf=CSRF, own_origin=OWN, **options)  # type: ignore[arg-type]
    )


def test_every_value_on_the_page_is_escaped() -> None:
    page = render_page(hostile_snapshot(), mount="/tasq", role="admin", nonce="n0nce", csrf=("csrf_token", "t"))
    assert page.count("<script") == 1  # the page's own, with its nonce
    assert '<script nonce="n0nce">' in page
    assert "<img" not in page
    assert "&lt;script&gt;window.tasqXss=1;alert(1)&lt;/script&gt;" in page
    assert "onerror=&quot;window.tasqXss=2&quot;" in page


def test_a_hostile_mount_path_and_token_are_escaped() -> None:
    page = render_page(
        hostile_snapshot(), mount='/t"><script>x()</script>', role="admin", nonce="n", csrf=("f", '"><b>')
    )
    assert page.count("<script") == 1 and "<b>" not in page


def test_json_escapes_markup_and_round_trips() -> None:
    dashboard = Dashboard(FixedSource(hostile_snapshot()))
    response = ask(dashboard, "GET", "/data.json", role="view")
    assert response.status == 200 and response.content_type == "application/json"
    body = response.body.decode()
    assert "<" not in body and ">" not in body and "&" not in body
    loaded = json.loads(body)
    assert loaded["failures"][0]["error"] == XSS
    assert loaded == json.loads(json.dumps(snapshot_json(hostile_snapshot())))
    assert set(loaded) == {
        "engine", "scope", "taken_at", "stats", "names", "running", "waiting", "periodic", "failures",
        "can_cancel", "can_retry", "blind",
    }  # fmt: skip


def test_hidden_arguments_are_never_asked_for_nor_sent() -> None:
    source = FixedSource(hostile_snapshot())
    dashboard = Dashboard(source, show_args=False)
    ask(dashboard, "GET", "/", role="view")
    ask(dashboard, "GET", "/data.json", role="view")
    assert source.args_asked == [False, False]
    shown = hostile_snapshot()
    hidden = replace(
        shown,
        running=tuple(replace(line, args=None) for line in shown.running),
        waiting=tuple(replace(line, args=None) for line in shown.waiting),
        failures=tuple(replace(failure, args=None) for failure in shown.failures),
    )
    assert '"args"' not in json.dumps(snapshot_json(hidden))


PATHS = ["", "/", "/data.json", "/tasks/9/retry", "/tasks/8/cancel", "/nope", "/tasks/x/retry"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_without_a_role_every_path_and_method_is_403(path: str, method: str) -> None:
    source = FixedSource(hostile_snapshot())
    response = ask(Dashboard(source), method, path, role=None)
    assert response.status == 403
    assert b"stats" not in response.body and source.asked == [] and source.args_asked == []
    assert dict(response.headers)["X-Content-Type-Options"] == "nosniff"


def test_without_a_role_the_page_sends_to_the_login_url_and_nothing_else_does() -> None:
    dashboard = Dashboard(FixedSource(hostile_snapshot()))
    page = ask(dashboard, "GET", "/", role=None, login_url="/login?next=/tasq/")
    assert page.status == 302 and dict(page.headers)["Location"] == "/login?next=/tasq/"
    assert ask(dashboard, "GET", "/data.json", role=None, login_url="/login").status == 403
    assert ask(dashboard, "POST", "/tasks/9/retry", role=None, login_url="/login").status == 403


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("view", "GET", "/", 200),
        ("view", "HEAD", "/", 200),
        ("view", "GET", "/data.json", 200),
        ("view", "POST", "/", 405),
        ("view", "OPTIONS", "/data.json", 405),
        ("view", "POST", "/tasks/9/retry", 403),
        ("view", "POST", "/tasks/8/cancel", 403),
        ("admin", "POST", "/tasks/9/retry", 303),
        ("admin", "POST", "/tasks/8/cancel", 303),
        ("admin", "GET", "/tasks/9/retry", 405),
        ("admin", "POST", "/tasks/7/retry", 409),  # not a failed task
        ("admin", "POST", "/tasks/7/cancel", 409),  # running
        ("admin", "POST", "/tasks/0/retry", 404),
        ("admin", "POST", "/tasks/-1/retry", 404),
        ("admin", "POST", "/tasks/x/cancel", 404),
        ("admin", "POST", "/tasks/99999999999999999999/cancel", 404),
        ("admin", "POST", "/tasks/9/retry/", 404),
        ("admin", "POST", "/tasks/9/delete", 404),
        ("admin", "GET", "/../data.json", 404),
        ("admin", "GET", "//data.json", 404),
        ("admin", "GET", "/data.json/", 404),
        ("admin", "GET", "/static/dashboard.js", 404),
    ],
)
def test_the_access_matrix(role: str, method: str, path: str, status: int) -> None:
    response = ask(Dashboard(FixedSource(hostile_snapshot())), method, path, role=role)
    assert response.status == status, response.body


def test_head_answers_headers_only() -> None:
    response = ask(Dashboard(FixedSource(hostile_snapshot())), "HEAD", "/", role="view")
    assert response.status == 200 and response.body == b""
    assert "Content-Security-Policy" in dict(response.headers)


def test_the_page_has_a_strict_policy_and_a_fresh_nonce() -> None:
    dashboard = Dashboard(FixedSource(hostile_snapshot()))
    first = dict(ask(dashboard, "GET", "/", role="view").headers)
    second = dict(ask(dashboard, "GET", "/", role="view").headers)
    policy = first["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "base-uri 'none'" in policy
    assert policy != second["Content-Security-Policy"]
    assert first["X-Frame-Options"] == "DENY" and first["Cache-Control"] == "no-store"


def test_a_view_only_page_has_no_token_and_no_button() -> None:
    response = ask(Dashboard(FixedSource(hostile_snapshot())), "GET", "/", role="view")
    body = response.body.decode()
    assert CSRF.token() not in body and 'class="act"' not in body
    admin = ask(Dashboard(FixedSource(hostile_snapshot())), "GET", "/", role="admin").body.decode()
    assert CSRF.token() in admin
    assert 'action="/tasq/tasks/9/retry"' in admin and 'action="/tasq/tasks/8/cancel"' in admin


@pytest.mark.parametrize(
    "fields",
    [
        {"form": {}},
        {"form": {"csrf_token": ""}},
        {"form": {"csrf_token": "0" * 64}},
        {"form": {"csrf_token": SessionCsrf(b"key", "another session").token()}},
        {"form": {"csrf_token": SessionCsrf(b"another key", "session-secret").token()}},
        {"origin": "http://evil.example"},
        {"origin": "http://app.example:8080"},
        {"origin": "https://app.example"},
        {"origin": "null"},
        {"origin": None},
        {"origin": None, "referer": "http://evil.example/tasq/"},
        {"fetch_site": "cross-site"},
        {"fetch_site": "same-site"},
    ],
)
def test_a_forged_action_is_refused_and_changes_nothing(fields: dict[str, object]) -> None:
    source = FixedSource(hostile_snapshot())
    response = ask(Dashboard(source), "POST", "/tasks/9/retry", wants_json=True, **fields)
    assert response.status == 403, response.body
    assert source.asked == []
    assert json.loads(response.body)["ok"] is False


def test_a_same_origin_action_with_its_token_is_done() -> None:
    source = FixedSource(hostile_snapshot())
    dashboard = Dashboard(source)
    retried = ask(dashboard, "POST", "/tasks/9/retry", wants_json=True, fetch_site="same-origin")
    assert json.loads(retried.body) == {
        "ok": True, "task_id": 9, "new_task_id": 100, "message": "Task 9 retried as task 100",
    }  # fmt: skip
    by_referer = ask(dashboard, "POST", "/tasks/8/cancel", origin=None, referer="http://app.example/tasq/")
    assert by_referer.status == 303 and dict(by_referer.headers)["Location"] == "/tasq/"
    assert source.asked == [("retry", 9), ("cancel", 8)]


def test_a_source_that_cannot_cancel_answers_501() -> None:
    source = FixedSource(hostile_snapshot(), can_cancel=False)
    assert ask(Dashboard(source), "POST", "/tasks/8/cancel").status == 501
    assert source.asked == []


def test_same_origin_reads_ports_and_schemes() -> None:
    assert same_origin("http://a.example", "http://a.example:80", None, None)
    assert same_origin("https://a.example:443", "https://A.example", None, None)
    assert not same_origin("http://a.example", "http://a.example.evil", None, None)
    assert not same_origin("http://a.example", "http://a.example:81", None, None)
    assert not same_origin("http://a.example", "not a url", None, None)
    assert not same_origin("http://a.example", None, None, None)
    assert not same_origin("http://a.example", "http://a.example", None, "cross-site")


def test_session_tokens_are_bound_to_session_and_key() -> None:
    token = SessionCsrf(b"k", "s").token()
    assert SessionCsrf(b"k", "s").valid(token)
    assert not SessionCsrf(b"k", "t").valid(token) and not SessionCsrf(b"j", "s").valid(token)
    assert not SessionCsrf(b"k", "s").valid(None)
    assert csrf_key("secret") == csrf_key(b"secret") != csrf_key("other")
    with pytest.raises(ValueError, match="empty"):
        csrf_key("")


def test_an_auth_rule_is_required_and_answers_only_two_roles(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="nobody gets in by default"):
        check_auth(None, "here")
    with pytest.raises(TypeError, match="callable"):
        check_auth("admin", "here")

    def broken(request: object) -> str:
        raise RuntimeError("boom")

    assert role_of(broken, object()) is None
    assert role_of(lambda request: "root", object()) is None
    assert role_of(lambda request: True, object()) is None
    assert as_role("admin") == "admin" and as_role("view") == "view" and as_role(None) is None
    assert "access refused" in caplog.text


@pytest.fixture
def engine() -> Iterator[TasQ]:
    engine = TasQ(workers=2, name="core-test")
    yield engine
    for gate in tasks.gates.values():
        gate.set()
    engine.close(timeout=10, cancel_pending=True)


def test_memory_source_sees_names_durations_running_and_failures(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    for n in range(20):
        engine.submit(tasks.quick, n)
    running = engine.submit(tasks.hold, "core-hold", SECRET)
    failed = engine.submit(tasks.fail, "core boom", SECRET)
    waiting = engine.submit(tasks.later, "core-later")  # behind two workers: one holds, one is free
    wait_until(lambda: engine.stats().done >= 20 and engine.stats().failed == 1, what="the tasks")
    snapshot = source.snapshot()
    names = {summary.name: summary for summary in snapshot.names}
    quick = names["tests.dashboard.tasks.quick"]
    assert quick.done == 20 and quick.failed == 0 and quick.rate == 20.0
    assert quick.p50 is not None and quick.p95 is not None and 0 <= quick.p50 <= quick.p95
    assert [line.task_id for line in snapshot.running] == [running]
    assert snapshot.running[0].args == f"'core-hold', '{SECRET}'"
    assert snapshot.failures[0].task_id == failed and snapshot.failures[0].error == "ValueError: core boom"
    assert "tasks.py" in snapshot.failures[0].traceback and "engine.py" not in snapshot.failures[0].traceback
    assert snapshot.scope == "this process" and snapshot.blind
    hidden = source.snapshot(args=False)
    assert SECRET not in repr(hidden)
    assert waiting > 0


def test_a_task_queued_plainly_has_its_name_in_data_json(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    blockers = [engine.submit(tasks.hold, "core-queue-blocker") for _ in range(engine.workers)]
    wait_until(lambda: set(blockers) <= set(engine.running_ids()), what="both workers to be busy")
    queued = engine.submit(tasks.later, "core-queued")
    cancelled = engine.submit(tasks.later, "core-queued-cancelled")
    body = json.loads(ask(Dashboard(source), "GET", "/data.json", role="view").body)
    waiting = {line["task_id"]: line for line in body["waiting"]}
    assert waiting[queued]["name"] == "tests.dashboard.tasks.later" and waiting[queued]["state"] == "pending"
    assert "args" not in waiting[queued]  # known once it starts
    assert source.cancel(cancelled)
    failure = source.snapshot().failures[0]
    assert (failure.task_id, failure.name, failure.cancelled) == (cancelled, "tests.dashboard.tasks.later", True)
    tasks.gate("core-queue-blocker").set()
    later = wait_until(
        lambda: next((s for s in source.snapshot().names if s.name == "tests.dashboard.tasks.later"), None),
        what="the queued task to finish",
    )
    assert (later.done, later.failed) == (1, 0)  # the cancelled one never ran: not counted


def test_memory_source_retries_a_failure_it_keeps(engine: TasQ) -> None:
    source = MemorySource(engine)
    engine.start()
    task_id = engine.submit(tasks.flaky, "core-flaky")
    wait_until(lambda: engine.stats().failed == 1, what="the first run to fail")
    new_id = source.retry(task_id)
    assert new_id > task_id
    wait_until(lambda: engine.stats().done == 1, what="the retry to succeed")
    assert source.snapshot().failures[0].retried_as == new_id
    with pytest.raises(ValueError, match="not a failed task"):
        source.retry(new_id)
    with pytest.raises(ValueError, match="not a failed task"):
        source.retry(10_000)
    assert source.can_cancel  # the thread engine cancels what has not started
    assert source.cancel(task_id) is False  # finished: nothing changes


def test_memory_source_made_after_start_says_what_it_cannot_see(engine: TasQ) -> None:
    engine.start()
    started = threading.Event()
    engine.submit(lambda: started.set() or tasks.gate("core-late").wait(10))
    assert started.wait(5)
    snapshot = MemorySource(engine).snapshot()
    assert snapshot.running[0].name is None and snapshot.stats.running == 1
    assert "after the engine started" in snapshot.blind[0] and not snapshot.can_retry
    tasks.gate("core-late").set()


def test_failures_kept_are_bounded(engine: TasQ) -> None:
    source = MemorySource(engine, failures=5, keep=10)
    engine.start()
    for n in range(30):
        engine.submit(tasks.fail, f"bounded {n}")
    wait_until(lambda: engine.stats().failed == 30, what="thirty failures")
    recorder = source.recorder
    assert recorder is not None
    assert len(recorder.failures) == 5 and len(recorder.failed_tasks) == 5 and len(recorder.finished) == 10
    shown = source.snapshot().failures
    assert len(shown) == 5 and [f.task_id for f in shown] == [f.task_id for f in reversed(recorder.failures)]
    assert not recorder.live
