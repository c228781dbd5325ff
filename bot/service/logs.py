"""Structured JSON log lines, one per event, with secrets masked wherever they appear: the
configured ones by value, and any credentials written into a URL. Terminal colour codes a
message may carry (a tool's output, a library's coloured formatter) are taken out: a log
store shows them as noise."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from recommenders.errors import redacted

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
"""CSI sequences (colours, cursor moves) and the other two-byte escapes."""
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
        plain = {k: _ANSI.sub("", v) if isinstance(v, str) else v for k, v in line.items()}
        text = redacted(json.dumps(plain, default=str))
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
