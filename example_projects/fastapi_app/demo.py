"""`make demo`: this app under uvicorn, loaded with webhook deliveries."""

from __future__ import annotations

import sys
from pathlib import Path

from example_projects.webdemo import WebDemo

DEMO = WebDemo(
    name="FastAPI webhook receiver (uvicorn)",
    directory=Path(__file__).parent,
    command=lambda port: [sys.executable, "app.py", "--port", str(port)],
    path="/webhooks/shop",
    body=lambda number: {"id": f"evt_{number}", "type": "order.paid", "data": {"order": number, "cents": 1250}},
    stats_path="/stats",
    env={"LOG_LEVEL": "WARNING", "WEBHOOK_BUSY_RATE": "0.1"},
)
