"""Structured JSON log lines, one per event, with secrets masked wherever they appear: the
configured ones by value, and any credentials written into a URL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from recommenders.errors import redacted

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        text = redacted(json.dumps(line, default=str))
        for secret in self.secrets:
            # As written and as JSON escapes it (quotes, backslashes, non-ASCII).
            text = text.replace(secret, "***").replace(json.dumps(secret)[1:-1], "***")
        return text


def configure(secrets: list[str], level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
