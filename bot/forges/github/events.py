"""The GitHub webhook events the bot acts on: the fields it reads, checked strictly
(`bot/forges/events.py` says why)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.forges.events import Event, Name, Push


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
    repositories: list[RepositoryRef] = Field(default_factory=list)


class InstallationRepositories(Event):
    installation: InstallationRef
    repositories_added: list[RepositoryRef] = Field(default_factory=list)
    repositories_removed: list[RepositoryRef] = Field(default_factory=list)


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


class Author(Event):
    login: Name
    type: str | None = None


class EditedIssue(Event):
    number: int
    body: str | None = None
    user: Author
    pull_request: dict[str, Any] | None = None


class BodyChange(Event):
    from_: str | None = Field(default=None, alias="from")


class IssueChanges(Event):
    body: BodyChange | None = None


class IssuesEdited(Event):
    """An issue's title or text edited: the dashboard's boxes are ticked this way."""

    action: str
    repository: RepositoryRef
    issue: EditedIssue
    changes: IssueChanges = Field(default_factory=IssueChanges)
    sender: Sender
    installation: InstallationRef | None = None


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


class CheckSuiteRerequested(Event):
    """ "Re-run all checks" on a commit: the suite of every check run an App made there."""

    repository: RepositoryRef
    check_suite: CheckRun
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
