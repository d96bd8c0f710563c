"""The dashboard page: server-rendered HTML, every value escaped, no markup from a task.

The page's script (``static/dashboard.js``) fetches this same page every two seconds and
swaps ``#board``, so the one renderer is this module and the one escaping rule is ``_e``.
"""

from __future__ import annotations

import html
import time
from importlib.resources import files

from .records import Failure, NameSummary, Periodic, Snapshot, TaskLine

__all__ = ["render_page"]

_NONE = "&#8211;"  # an en dash, for a figure there is none of

_STATIC = files(__package__) / "static"
_CSS = (_STATIC / "dashboard.css").read_text(encoding="utf-8")
_JS = (_STATIC / "dashboard.js").read_text(encoding="utf-8")


def _e(value: object) -> str:
    """The one way a value reaches the page: as text, quotes included."""
    return html.escape(str(value), quote=True)


def render_page(snapshot: Snapshot, *, mount: str, role: str, nonce: str, csrf: tuple[str, str | None]) -> str:
    """The whole page; ``csrf`` is (form field, token), the token None for who may not act."""
    base = mount.rstrip("/")
    field, token = csrf
    actions = _Actions(base, field, token) if role == "admin" and token else None
    stats = snapshot.stats
    role_text = "admin" if role == "admin" else "view only"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="same-origin">
<title>TasQ · {_e(snapshot.engine)}</title>
<style nonce="{_e(nonce)}">{_CSS}</style>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true">◆</span><span class="product">TasQ</span>
    <span class="engine">{_e(snapshot.engine)}</span><span class="scope">{_e(snapshot.scope)}</span></div>
  <div class="status"><span id="live" class="live" title="updates every 2 seconds">live</span>
    <span class="role role-{_e(role)}">{_e(role_text)}</span>
    <button type="button" id="pause" class="ghost">Pause</button></div>
</header>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
<main id="board" data-taken-at="{snapshot.taken_at:.3f}" data-done="{stats.done}" data-failed="{stats.failed}">
<section class="counts" aria-label="Counts">
{_count("Running", stats.running, "running")}{_count("Pending", stats.pending, "pending")}\
{_count("Done", stats.done, "done")}{_count("Failed", stats.failed, "failed")}\
{_count("Retried", stats.retried, "retried")}{_count("Cancelled", stats.cancelled, "cancelled")}\
{_count("Enqueued", stats.enqueued, "enqueued")}{_count("Workers", stats.workers, "workers")}
</section>
{_names(snapshot.names)}
<div class="columns">
{_running(snapshot.running, snapshot.taken_at)}
{_waiting(snapshot.waiting, snapshot.taken_at, actions if snapshot.can_cancel else None)}
</div>
{_failures(snapshot.failures, snapshot.taken_at, actions if snapshot.can_retry else None)}
{_periodic(snapshot.periodic, snapshot.taken_at)}
<footer class="foot">
  <span>Updated <time data-at="{snapshot.taken_at:.3f}">{_clock(snapshot.taken_at)}</time> UTC</span>
  <a href="{_e(base)}/data.json">data.json</a>
  {_blind(snapshot.blind)}
</footer>
</main>
<script nonce="{_e(nonce)}">{_JS}</script>
</body>
</html>
"""


class _Actions:
    """The admin's buttons: small POST forms carrying the CSRF token."""

    __slots__ = ("base", "field", "token")

    def __init__(self, base: str, field: str, token: str) -> None:
        self.base, self.field, self.token = base, field, token

    def button(self, task_id: int, action: str, label: str) -> str:
        return (
            f'<form class="act" method="post" action="{_e(self.base)}/tasks/{task_id}/{action}">'
            f'<input type="hidden" name="{_e(self.field)}" value="{_e(self.token)}">'
            f'<button type="submit" class="btn btn-{action}" id="{action}-{task_id}">{_e(label)}</button></form>'
        )


def _count(label: str, value: int, kind: str) -> str:
    return f'<div class="count count-{kind}"><span class="n">{value:,}</span><span class="label">{label}</span></div>'


def _names(names: tuple[NameSummary, ...]) -> str:
    if not names:
        body = '<p class="empty">No task has finished yet.</p>'
    else:
        rows = "".join(
            f'<tr><td class="name">{_name(summary.name)}</td><td class="num">{_rate(summary.rate)}</td>'
            f'<td class="num">{_duration(summary.p50)}</td><td class="num">{_duration(summary.p95)}</td>'
            f'<td class="num ok">{summary.done:,}</td>'
            f'<td class="num {"bad" if summary.failed else "quiet"}">{summary.failed:,}</td>'
            f'<td class="num quiet">{_share(summary)}</td></tr>'
            for summary in names
        )
        body = (
            '<div class="scroll"><table><thead><tr><th>Task</th><th class="num">per min</th>'
            '<th class="num">p50</th><th class="num">p95</th><th class="num">done</th><th class="num">failed</th>'
            f'<th class="num">fail rate</th></tr></thead><tbody>{rows}</tbody></table></div>'
        )
    return f'<section class="panel" id="names"><h2>Tasks by name</h2>{body}</section>'


def _running(lines: tuple[TaskLine, ...], now: float) -> str:
    rows = "".join(
        f'<tr id="running-{line.task_id}"><td class="id">#{line.task_id}</td><td class="name">{_name(line.name)}'
        f"{_args(line.args)}</td><td>{_attempt(line.attempt)}</td>"
        f'<td class="num">{_age(line.started_at, now)}</td></tr>'
        for line in lines
    )
    body = (
        '<div class="scroll"><table><thead><tr><th>Id</th><th>Task</th><th>Attempt</th>'
        f'<th class="num">Running for</th></tr></thead><tbody>{rows}</tbody></table></div>'
        if lines
        else '<p class="empty">Nothing is running.</p>'
    )
    badge = f'<span class="badge">{len(lines)}</span>'
    return f'<section class="panel" id="running"><h2>Running {badge}</h2>{body}</section>'


def _waiting(lines: tuple[TaskLine, ...], now: float, actions: _Actions | None) -> str:
    rows = "".join(
        f'<tr id="waiting-{line.task_id}"><td class="id">#{line.task_id}</td><td class="name">{_name(line.name)}'
        f'{_args(line.args)}</td><td><span class="state state-{line.state}">{line.state}</span></td>'
        f'<td class="num">{_due(line, now)}</td>'
        f"<td>{actions.button(line.task_id, 'cancel', 'Cancel') if actions else ''}</td></tr>"
        for line in lines
    )
    body = (
        '<div class="scroll"><table><thead><tr><th>Id</th><th>Task</th><th>State</th><th class="num">Due</th>'
        f"<th></th></tr></thead><tbody>{rows}</tbody></table></div>"
        if lines
        else '<p class="empty">Nothing is waiting.</p>'
    )
    badge = f'<span class="badge">{len(lines)}</span>'
    return f'<section class="panel" id="waiting"><h2>Waiting {badge}</h2>{body}</section>'


def _failures(failures: tuple[Failure, ...], now: float, actions: _Actions | None) -> str:
    cards = "".join(_failure(failure, now, actions) for failure in failures)
    body = cards or '<p class="empty">No failures. Nice.</p>'
    return (
        f'<section class="panel" id="failures"><h2>Recent failures <span class="badge">{len(failures)}</span></h2>'
        f"{body}</section>"
    )


def _failure(failure: Failure, now: float, actions: _Actions | None) -> str:
    if failure.retried_as is not None:
        action = f'<span class="retried">retried as #{failure.retried_as}</span>'
    elif actions and not failure.cancelled:
        action = actions.button(failure.task_id, "retry", "Retry")
    else:
        action = ""
    kind = "cancelled" if failure.cancelled else "failed"
    attempts = f"{failure.attempts} attempt{'s' if failure.attempts != 1 else ''}"
    trace = (
        f'<details id="trace-{failure.task_id}"><summary>Traceback</summary>'
        f'<pre class="trace">{_e(failure.traceback)}</pre></details>'
        if failure.traceback
        else ""
    )
    return (
        f'<article class="failure failure-{kind}" id="failure-{failure.task_id}"><div class="head">'
        f'<span class="id">#{failure.task_id}</span><span class="name">{_name(failure.name)}</span>'
        f'<span class="meta">{attempts} · {_ago(failure.finished_at, now)}</span>{action}</div>'
        f'<pre class="error">{_e(failure.error)}</pre>{_args(failure.args)}{trace}</article>'
    )


def _periodic(schedules: tuple[Periodic, ...], now: float) -> str:
    if not schedules:
        return ""
    rows = "".join(
        f'<tr><td class="name">{_name(periodic.name)}</td><td><code>{_e(periodic.schedule)}</code></td>'
        f'<td class="num">{_in(periodic.next_run, now)}</td></tr>'
        for periodic in schedules
    )
    return (
        '<section class="panel" id="periodic"><h2>Periodic</h2><div class="scroll"><table><thead><tr><th>Task</th>'
        f'<th>Schedule</th><th class="num">Next run</th></tr></thead><tbody>{rows}</tbody></table></div></section>'
    )


def _blind(blind: tuple[str, ...]) -> str:
    if not blind:
        return ""
    items = "".join(f"<li>{_e(text)}</li>" for text in blind)
    return f'<details class="blind"><summary>What this view cannot see</summary><ul>{items}</ul></details>'


def _name(name: str | None) -> str:
    if name is None:
        return '<span class="unknown">not started yet</span>'
    module, dot, short = name.rpartition(".")
    if not dot:
        return f'<span class="fn">{_e(name)}</span>'
    return f'<span class="mod">{_e(module)}.</span><span class="fn">{_e(short)}</span>'


def _args(args: str | None) -> str:
    return f'<code class="args">({_e(args)})</code>' if args is not None else ""


def _attempt(attempt: int) -> str:
    return f'<span class="attempt">{attempt}</span>' if attempt > 1 else '<span class="quiet">1</span>'


def _rate(per_minute: float) -> str:
    return f"{per_minute:,.0f}" if per_minute >= 10 else f"{per_minute:.1f}"


def _share(summary: NameSummary) -> str:
    total = summary.done + summary.failed
    return f"{100 * summary.failed / total:.1f}%" if total else _NONE


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return _NONE
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)}m {int(seconds % 60)}s"


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def _age(since: float | None, now: float) -> str:
    if since is None:
        return _NONE
    return f'<time class="age" data-since="{since:.3f}">{_span(now - since)}</time>'


def _ago(at: float, now: float) -> str:
    return f'<time class="ago" data-since="{at:.3f}">{_span(now - at)}</time> ago'


def _in(at: float | None, now: float) -> str:
    if at is None:
        return _NONE
    return f'<time class="due" data-until="{at:.3f}">in {_span(at - now)}</time>'


def _due(line: TaskLine, now: float) -> str:
    if line.run_at is not None:
        return _in(line.run_at, now)
    return _NONE


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))
