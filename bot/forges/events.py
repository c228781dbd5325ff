"""What the bot reads of each webhook event, as pydantic models checked before any use.

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


# GitHub ----------------------------------------------------------------------------------


class RepositoryRef(Event):
    full_name: Name


class Repository(RepositoryRef):
    default_branch: Name


class InstallationRef(Event):
    id: int


class Account(Event):
    login: Name


class Installation(InstallationRef):
    account: Account


class InstallationDeleted(Event):
    installation: InstallationRef


class InstallationCreated(Event):
    installation: Installation
    repositories: list[RepositoryRef] = []


class InstallationRepositories(Event):
    installation: InstallationRef
    repositories_added: list[RepositoryRef] = []
    repositories_removed: list[RepositoryRef] = []


class GitHubPush(Push):
    repository: Repository
    installation: InstallationRef | None = None


class Sender(Event):
    login: Name
    type: str | None = None


class Issue(Event):
    number: int
    pull_request: dict[str, Any] | None = None
    """Present, with links, only when the issue is a pull request."""


class Comment(Event):
    id: int
    body: str | None = None


class IssueComment(Event):
    action: str
    repository: RepositoryRef
    issue: Issue
    sender: Sender
    comment: Comment
    installation: InstallationRef | None = None


class App(Event):
    id: int | None = None


class CheckRun(Event):
    app: App | None = None


class CheckRunRerequested(Event):
    repository: RepositoryRef
    check_run: CheckRun
    installation: InstallationRef | None = None


class Head(Event):
    ref: Name
    repo: RepositoryRef | None = None
    """None when the fork the pull request came from was deleted."""


class Pull(Event):
    number: int
    merged: bool | None = None
    html_url: Name
    head: Head


class PullRequestClosed(Event):
    repository: RepositoryRef
    pull_request: Pull


# GitLab ----------------------------------------------------------------------------------


class Project(Event):
    path_with_namespace: Name
    default_branch: str | None = None


class ProjectEvent(Event):
    """Any GitLab event: its project is read first, to pick the token it must carry."""

    project: Project


class GitLabPush(Push):
    project: Project


class GitLabUser(Event):
    username: Name
    bot: bool | None = None


class Note(Event):
    id: int
    noteable_type: str | None = None
    action: str | None = None
    system: bool | None = None
    note: str | None = None


class NotedMergeRequest(Event):
    iid: int
    source_branch: str | None = None


class NoteHook(Event):
    project: Project
    object_attributes: Note
    user: GitLabUser
    merge_request: NotedMergeRequest | None = None


class MergeRequest(Event):
    iid: int
    action: str | None = None
    source_branch: Name
    url: Name
    source_project_id: int | None = None
    target_project_id: int | None = None


class MergeRequestHook(Event):
    project: Project
    object_attributes: MergeRequest
