"""The GitLab webhook events the bot acts on: the fields it reads, checked strictly
(`bot/forges/events.py` says why)."""

from __future__ import annotations

from bot.forges.events import Event, Name, Push


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


class Issue(Event):
    iid: int
    action: str | None = None
    description: str | None = None


class DescriptionChange(Event):
    """An edit's before and after: which boxes the edit itself ticked."""

    previous: str | None = None
    current: str | None = None


class IssueChanges(Event):
    description: DescriptionChange | None = None


class IssueHook(Event):
    project: Project
    user: GitLabUser
    object_attributes: Issue
    changes: IssueChanges | None = None
