from __future__ import annotations

from django.db import models


class Item(models.Model):
    number = models.IntegerField()
