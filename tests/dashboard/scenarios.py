"""The browser cases every mount must pass, given a running site (``Site``) and a browser.

Each function drives headless Chromium against a real server and asserts what it names;
``test_*_browser.py`` modules run all of them on their framework.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selenium.webdriver.common.by import By

from tasq import TasQ
from tasq.dashboard import source_for
from tests.dashboard import tasks
from tests.dashboard.support import SECRET, XSS, other_origin, wait_until


@dataclass
class Site:
    base: str  # http://127.0.0.1:PORT
    mount: str  # "/tasq": show_args=True
    quiet: str  # "/quiet": the same engine with show_args=False
    engine: TasQ
    login: Callable[[Any, str | None], None]  # (driver, "admin" | "view" | None)
    anonymous_page: str  # "403", or "login" when an anonymous browser is redirected

    def key(self, name: str) -> str:
        """A task key of this site's own: the cases run once per framework in one process."""
        return f"{name}@{self.engine.name}"

    def url(self, path: str = "/", mount: str | None = None) -> str:
        return self.base + (mount or self.mount) + path


_FETCH = """
const [url, method, body, accept] = arguments;
const done = arguments[arguments.length - 1];
const init = {method, credentials: "same-origin", redirect: "manual", headers: {Accept: accept}};
if (body !== null) {
  init.body = body;
  init.headers["Content-Type"] = "application/x-www-form-urlencoded";
}
fetch(url, init)
  .then(async (r) => done({status: r.status, type: r.type, text: r.type === "opaqueredirect" ? "" : await r.text()}))
  .catch((e) => done({status: -1, type: "error", text: String(e)}));
"""


def fetch(driver: Any, url: str, method: str = "GET", body: str | None = None, accept: str = "*/*") -> dict[str, Any]:
    """A request from the page the browser shows: its cookies, its origin."""
    result: dict[str, Any] = driver.execute_async_script(_FETCH, url, method, body, accept)
    return result


def data(driver: Any, site: Site, mount: str | None = None) -> dict[str, Any]:
    answer = fetch(driver, site.url("/data.json", mount), accept="application/json")
    assert answer["status"] == 200, answer
    loaded: dict[str, Any] = json.loads(answer["text"])
    return loaded


def text(driver: Any, selector: str) -> str | None:
    """The text of the first element ``selector`` matches, read in one step (the board is swapped live)."""
    found: str | None = driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el ? el.innerText : null;", selector
    )
    return found


def click(driver: Any, element_id: str) -> None:
    """A real click on a button; found again if a refresh swapped it out meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(5):
        try:
            driver.find_element(By.ID, element_id).click()
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"#{element_id} kept going stale")


def open_page(driver: Any, site: Site, mount: str | None = None) -> None:
    driver.get(site.url("/", mount))
    wait_until(lambda: driver.find_elements(By.ID, "board"), what="the dashboard page")


def failure_of(driver: Any, site: Site, task_id: int) -> dict[str, Any]:
    return next(f for f in data(driver, site)["failures"] if f["task_id"] == task_id)


def wait_failed(site: Site, task_id: int) -> None:
    wait_until(lambda: site.engine.stats().failed and _failed(site, task_id), what=f"task {task_id} to fail")


def _failed(site: Site, task_id: int) -> bool:
    snapshot = source_for(site.engine).snapshot(args=False, limit=1000)
    return any(failure.task_id == task_id for failure in snapshot.failures)


# -- the cases ---------------------------------------------------------------------------

PATHS = [
    "",
    "/",
    "/data.json",
    "/data.json/",
    "/tasks/1/retry",
    "/tasks/1/cancel",
    "/tasks/abc/retry",
    "/tasks/-1/cancel",
    "/tasks/99999999999999999999999/retry",
    "/nothing-here",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def anonymous_is_refused_everywhere(driver: Any, site: Site) -> None:
    site.login(driver, None)
    driver.get(site.url("/"))
    if site.anonymous_page == "login":
        assert "/login" in driver.current_url, driver.current_url
    else:
        assert "Forbidden" in driver.find_element(By.TAG_NAME, "body").text
    driver.get(site.base + "/outside")  # a page of this origin but not of the dashboard, to fetch from
    seen = []
    for mount in (site.mount, site.quiet):
        for path in PATHS:
            for method in METHODS:
                body = "csrf_token=x&csrfmiddlewaretoken=x" if method not in ("GET", "HEAD") else None
                answer = fetch(driver, site.base + mount + path, method, body)
                seen.append((mount + path, method, answer["status"], answer["type"]))
                refused = answer["status"] == 403 or answer["type"] == "opaqueredirect"
                # Django's URLconf has "tasq/": "/tasq" is the project's 404, no dashboard path.
                outside = path == "" and answer["status"] == 404 and site.anonymous_page == "login"
                assert refused or outside, seen[-1]
                assert '"stats"' not in answer["text"] and "Recent failures" not in answer["text"], seen[-1]
    assert len(seen) == 2 * len(PATHS) * len(METHODS)


def task_appears_and_finishes_live(driver: Any, site: Site) -> None:
    site.login(driver, "admin")
    open_page(driver, site)
    driver.execute_script("window.tasqNotReloaded = true;")
    done = "return parseInt(document.getElementById('board').dataset.done)"
    done_before = driver.execute_script(done)
    task_id = site.engine.submit(tasks.hold, site.key("live-task"))
    row = wait_until(lambda: text(driver, f"#running-{task_id}"), what="the running row")
    assert "tasks.hold" in row and f"'{site.key('live-task')}'" in row
    tasks.gate(site.key("live-task")).set()
    wait_until(lambda: text(driver, f"#running-{task_id}") is None, what="the row to go")
    wait_until(lambda: driver.execute_script(done) > done_before, what="done to count")
    assert driver.execute_script("return window.tasqNotReloaded === true;"), "the page reloaded"


def queued_task_shows_its_name(driver: Any, site: Site) -> None:
    """A task queued plainly behind busy workers shows its name (and no arguments yet)."""
    site.login(driver, "admin")
    open_page(driver, site)
    driver.execute_script("window.tasqNotReloaded = true;")
    blocker = site.key("queue-blocker")
    blockers = [site.engine.submit(tasks.hold, blocker) for _ in range(site.engine.workers)]
    wait_until(lambda: set(blockers) <= set(site.engine.running_ids()), what="every worker to be busy")
    key = site.key("queued-plain")
    queued = site.engine.submit(tasks.later, key)
    row = wait_until(lambda: text(driver, f"#waiting-{queued}"), what="the queued row")
    assert "tests.dashboard.tasks.later" in row and "pending" in row, row
    assert key not in row  # its arguments are known once it starts
    line = next(line for line in data(driver, site)["waiting"] if line["task_id"] == queued)
    assert (line["name"], line["state"], line["started_at"]) == ("tests.dashboard.tasks.later", "pending", None)
    assert "args" not in line and line["enqueued_at"] is not None
    tasks.gate(blocker).set()
    wait_until(lambda: tasks.runs[key] == 1, what="the queued task to run")
    wait_until(lambda: text(driver, f"#waiting-{queued}") is None, what="the waiting row to go")
    assert driver.execute_script("return window.tasqNotReloaded === true;"), "the page reloaded"


def retry_by_click(driver: Any, site: Site) -> None:
    site.login(driver, "admin")
    task_id = site.engine.submit(tasks.flaky, site.key("retry-me"))
    wait_failed(site, task_id)
    open_page(driver, site)
    driver.execute_script("window.tasqNotReloaded = true;")
    click(driver, f"retry-{task_id}")
    card = wait_until(
        lambda: "retried as #" in (text(driver, f"#failure-{task_id}") or "") and text(driver, f"#failure-{task_id}"),
        what="the failure to say it was retried",
    )
    new_id = int(card.split("retried as #")[1].split()[0])
    assert new_id > task_id
    wait_until(lambda: tasks.runs[site.key("retry-me")] == 2, what="the retry to run")
    assert "retried as" in (text(driver, "#toast") or "")
    assert driver.execute_script("return window.tasqNotReloaded === true;")
    assert not driver.find_elements(By.ID, f"retry-{task_id}")


def cancel_by_click(driver: Any, site: Site) -> None:
    site.login(driver, "admin")
    key = site.key("cancel-me")
    real = source_for(site.engine).can_cancel  # the engine's own cancel, not a test stand-in
    cancelled_before = site.engine.stats().cancelled
    task_id = site.engine.enqueue(functools.partial(tasks.later, key), delay=60)
    open_page(driver, site)
    row = wait_until(lambda: text(driver, f"#waiting-{task_id}"), what="the delayed row")
    assert "tests.dashboard.tasks.later" in row and "delayed" in row and key in row
    assert re.search(r"in (5\d|60)s|in 1m 00s", row), row  # due in about a minute
    click(driver, f"cancel-{task_id}")
    wait_until(lambda: text(driver, f"#waiting-{task_id}") is None, what="the waiting row to go")
    card = wait_until(lambda: text(driver, f"#failure-{task_id}"), what="the cancelled card")
    assert "cancelled" in (text(driver, "#toast") or "")
    if real:
        assert site.engine.stats().cancelled == cancelled_before + 1
        assert "TaskCancelled" in card and "tests.dashboard.tasks.later" in card
    assert tasks.runs[key] == 0
    assert fetch(driver, site.url(f"/tasks/{task_id}/cancel"), "POST", "x=1")["status"] == 403  # no token


def view_sees_but_cannot_act(driver: Any, site: Site) -> None:
    failed_id = site.engine.submit(tasks.fail, site.key("view-cannot-retry"))
    waiting_id = site.engine.enqueue(functools.partial(tasks.later, site.key("view-cannot-cancel")), delay=60)
    wait_failed(site, failed_id)
    site.login(driver, "view")
    open_page(driver, site)
    assert driver.find_elements(By.ID, f"failure-{failed_id}")
    assert driver.find_elements(By.ID, f"waiting-{waiting_id}")
    assert not driver.find_elements(By.CSS_SELECTOR, "form.act"), "a view-only user sees buttons"
    assert text(driver, ".role") == "view only"
    enqueued = data(driver, site)["stats"]["enqueued"]
    for task_id, action in ((failed_id, "retry"), (waiting_id, "cancel")):
        body = "csrf_token=x&csrfmiddlewaretoken=x"
        answer = fetch(driver, site.url(f"/tasks/{task_id}/{action}"), "POST", body, "application/json")
        assert answer["status"] == 403, answer
    after = data(driver, site)
    assert after["stats"]["enqueued"] == enqueued
    assert failure_of(driver, site, failed_id)["retried_as"] is None
    assert any(line["task_id"] == waiting_id for line in after["waiting"])


def forged_actions_change_nothing(driver: Any, site: Site, field: str) -> None:
    """No token, a wrong token, or the right token from another origin: refused, nothing changes."""
    failed_id = site.engine.submit(tasks.fail, site.key("forged"))
    wait_failed(site, failed_id)
    site.login(driver, "admin")
    open_page(driver, site)
    token_value = driver.execute_script(
        "return document.getElementById(arguments[0]).form.elements[arguments[1]].value;", f"retry-{failed_id}", field
    )
    assert token_value
    enqueued = data(driver, site)["stats"]["enqueued"]
    action = site.url(f"/tasks/{failed_id}/retry")
    for body in ("", f"{field}=wrong", f"{field}="):
        answer = fetch(driver, action, "POST", body, "application/json")
        assert answer["status"] == 403, (body, answer)
    evil = (
        f'<form id="f" method="post" action="{action}"><input name="{field}" value="{token_value}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    with other_origin({"/evil": evil}) as elsewhere:
        driver.get(elsewhere + "/evil")
        wait_until(lambda: driver.current_url.startswith(site.base), what="the forged post to land")
        body_text = wait_until(lambda: driver.find_element(By.TAG_NAME, "body").text, what="an answer")
        assert "Forbidden" in body_text or "CSRF" in body_text, body_text
    open_page(driver, site)
    assert data(driver, site)["stats"]["enqueued"] == enqueued
    assert failure_of(driver, site, failed_id)["retried_as"] is None
    assert tasks.runs[site.key("forged")] == 1


def markup_in_a_task_is_text(driver: Any, site: Site) -> None:
    task_id = site.engine.submit(tasks.fail, XSS, XSS)
    wait_failed(site, task_id)
    site.login(driver, "admin")
    open_page(driver, site)
    card = f"#failure-{task_id}"
    assert XSS in (text(driver, f"{card} .error") or "")
    assert XSS in (text(driver, f"{card} .args") or "")
    driver.execute_script("document.querySelector(arguments[0]).open = true;", f"#trace-{task_id}")
    assert XSS in (text(driver, f"{card} .trace") or "")
    wait_until(lambda: driver.execute_script("return document.getElementById('live').textContent") == "live")
    # Two refreshes swap the board in: still nothing runs.
    first = driver.find_element(By.ID, "board")
    wait_until(lambda: driver.find_element(By.ID, "board") != first, what="a refresh")
    assert driver.execute_script("return typeof window.tasqXss;") == "undefined"
    driver.get(site.url("/data.json"))
    assert "window.tasqXss" in driver.find_element(By.TAG_NAME, "body").text
    assert driver.execute_script("return typeof window.tasqXss;") == "undefined"


def hidden_arguments_do_not_leak(driver: Any, site: Site) -> None:
    failed_id = site.engine.submit(tasks.fail, "failed with a secret argument", SECRET)
    running_id = site.engine.submit(tasks.hold, site.key("hold-secret"), SECRET)
    wait_failed(site, failed_id)
    site.login(driver, "admin")
    open_page(driver, site)  # the dashboard that shows arguments shows this one: the test can see it
    wait_until(lambda: driver.find_elements(By.ID, f"running-{running_id}"), what="the running task")
    assert SECRET in driver.page_source
    open_page(driver, site, site.quiet)
    wait_until(lambda: driver.find_elements(By.ID, f"running-{running_id}"), what="the running task, quiet")
    assert driver.find_elements(By.ID, f"failure-{failed_id}")
    assert SECRET not in driver.page_source
    answer = fetch(driver, site.url("/data.json", site.quiet), accept="application/json")
    assert answer["status"] == 200 and SECRET not in answer["text"]
    assert '"args"' not in answer["text"]
    tasks.gate(site.key("hold-secret")).set()


def security_headers(driver: Any, site: Site) -> None:
    """Checked from Python: what every answer carries (the browser hides some headers)."""
    import httpx

    for path in ("/", "/data.json", "/tasks/1/retry"):
        response = httpx.get(site.url(path))
        assert response.status_code in (302, 403), (path, response.status_code)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "") or (
            response.headers.get("X-Frame-Options") == "DENY"
        )


ALL = [
    anonymous_is_refused_everywhere,
    task_appears_and_finishes_live,
    queued_task_shows_its_name,
    retry_by_click,
    cancel_by_click,
    view_sees_but_cannot_act,
    markup_in_a_task_is_text,
    hidden_arguments_do_not_leak,
]
