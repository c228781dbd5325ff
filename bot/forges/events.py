"""What the bot reads of webhook events, as pydantic models checked before any use: the
parts every forge shares here, each forge's own events beside it (`<forge>/events.py`).

A payload is signed, but its shape is still the sender's: a GitHub App's webhook secret is
shared by every installation, and GitLab's token by every project that uses it. Each event
the bot acts on is validated against the model of the fields it reads, strictly (a number
where a name belongs is wrong, not converted), so a handler only ever sees the types it
expects, and a payload of another shape is answered 400 with the field that is wrong.
Fields the bot does not read are ignored, so new fields in GitHub's or GitLab's payloads
change nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

Name = Annotated[str, StringConstraints(min_length=1)]


class Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Malformed(Exception):
    """A signed payload that does not match its event's model; `str()` names the field."""


Model = TypeVar("Model", bound=Event)


def parse(model: type[Model], payload: dict[str, Any]) -> Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise Malformed(".".join(str(part) for part in error["loc"]) or "payload") from None


# Shared ----------------------------------------------------------------------------------


class Commit(Event):
    added: list[str] = []
    modified: list[str] = []
    removed: list[str] = []

    @property
    def paths(self) -> list[str]:
        return [*self.added, *self.modified, *self.removed]


class Push(Event):
    """The fields GitHub's `push` and GitLab's `Push Hook` share."""

    ref: Name
    after: str | None = None
    deleted: bool = False
    forced: bool = False
    commits: list[Commit] = []
    head_commit: Commit | None = None
    total_commits_count: int | None = None
