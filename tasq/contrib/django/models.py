"""The permission ``tasq.change_task``, which lets a staff user retry and cancel from the dashboard.

A Django permission belongs to a model; TasQ keeps no table, so this model is unmanaged: no
migration makes or needs it, and ``migrate`` (with ``django.contrib.auth``) creates only the
permission, which the admin grants like any other.
"""

from __future__ import annotations

from django.db import models


class Task(models.Model):  # type: ignore[misc]  # Django ships no type hints
    id = models.BigAutoField(primary_key=True)

    class Meta:
        managed = False
        db_table = "tasq_task"  # never created
        default_permissions = ("change",)  # tasq.change_task, and no other
        verbose_name = "TasQ task"
