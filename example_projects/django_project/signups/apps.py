from django.apps import AppConfig


class SignupsConfig(AppConfig):
    name = "signups"

    def ready(self) -> None:
        from tasq.contrib.django import signals

        from .stats import STATS

        signals.task_enqueued.connect(STATS.enqueued)
        signals.task_retried.connect(STATS.retried)
        signals.task_done.connect(STATS.done)
        signals.task_failed.connect(STATS.failed)
