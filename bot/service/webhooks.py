"""`POST /webhooks/<forge>` for every forge with webhooks: check, remember, queue, answer.

A delivery is acknowledged within milliseconds: it is checked (size, then the forge's
signature or token), its id is remembered so a redelivery does nothing, and what it asks
for becomes a job in the store; the worker does everything that needs the forge, such as
asking whether a commenter may write to the repository.

Checks, in order (nothing is recorded for a delivery that fails one):

- a body over `max_body_bytes` (declared, or read so far when chunked) -> 413;
- a bad or missing signature or token, or none configured -> 401;
- a delivery id seen before -> 200 `duplicate`;
- an event the bot acts on whose payload does not match its model -> 400 naming the field.

What each event calls for is the forge's to decide (`bot/forges/<forge>/webhooks.py`, in
the words of `bot/forges/hooks.py`); this module carries it out: a job queued in the
delivery's transaction (202), an installation changed, a PR's fate recorded, or the
answer given.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.forges.events import Malformed
from bot.forges.hooks import (
    MAX_DELIVERY_ID,
    Decision,
    Enqueue,
    Hooks,
    Install,
    Outcome,
    RecordPull,
    Refused,
    duplicate,
    ignored,
    queued,
    recorded,
)
from bot.forges.registry import FORGES
from bot.service import metrics
from bot.service.settings import ServiceSettings
from bot.store import Store
from bot.store.rows import RepositoryRow

log = logging.getLogger("rightsizer.webhooks")


def webhook_router(store: Store, settings: ServiceSettings) -> APIRouter:
    """One endpoint per forge with webhooks, over `store`, checked with `settings`."""
    router = APIRouter(tags=["webhooks"])
    for kind in FORGES.values():
        if kind.hooks is not None:
            endpoint = _Webhooks(store, settings, kind.hooks(settings))
            router.add_api_route(
                f"/webhooks/{kind.name}",
                endpoint.receive,
                methods=["POST"],
                response_class=JSONResponse,
                name=f"{kind.name}_webhook",
            )
    return router


class _Webhooks:
    """One forge's endpoint."""

    def __init__(self, store: Store, settings: ServiceSettings, hooks: Hooks) -> None:
        self.store = store
        self.settings = settings
        self.hooks = hooks
        self.forge = hooks.name

    async def receive(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        headers = request.headers
        event = headers.get(self.hooks.event_header, "")
        delivery = next((headers[h] for h in self.hooks.delivery_headers if headers.get(h)), "")
        payload: dict[str, Any] | None = None
        try:
            _check_length(request, self.settings.max_body_bytes)
            self.hooks.check_before_body(headers)
            body = await _read_body(request, self.settings.max_body_bytes)
            self.hooks.check_body(headers, body)
            self.hooks.check_identity(event, delivery)
            content_type = headers.get("content-type", "")
            payload, result = await run_in_threadpool(
                self._parse_and_deliver, delivery, event, body, content_type, headers
            )
        except Refused as refused:
            result = refused.result
        return self._answer(event, delivery, _action(payload), result, started)

    # In a worker thread: the store is synchronous ------------------------------------

    def _parse_and_deliver(
        self, delivery: str, event: str, body: bytes, content_type: str, headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], Outcome]:
        """Parsing up to `max_body_bytes` of JSON is CPU work: it happens here, off the event
        loop, with the store work."""
        payload = _payload(body, content_type)
        return payload, self._deliver(delivery, event, payload, headers)

    def _deliver(
        self, delivery: str, event: str, payload: dict[str, Any], headers: Mapping[str, str]
    ) -> Outcome:
        """Decides from the payload, then remembers the delivery and does what it asks.

        A job is queued in the transaction that records the delivery, so a crash or an error
        leaves neither, and the forge's redelivery (same id) is handled as new. Other store
        work follows the record; if it fails the record is deleted again."""
        forge = self.forge
        try:
            decision: Decision = self.hooks.decide(event, payload, headers, self._pull_branch)
        except Malformed as exc:
            return Outcome(400, "invalid", {"detail": f"payload has no valid {exc}"})
        if isinstance(decision, Enqueue):
            result = self._enqueue_delivery(delivery, event, decision)
        elif isinstance(decision, Install):
            result = self._install(delivery, event, decision)
        elif delivery and not self.store.deliveries.first(delivery, forge, event):
            result = duplicate()
        elif isinstance(decision, Outcome):
            result = decision
        else:
            try:
                result = self._record_pull(decision)
            except Exception:
                if delivery:
                    self.store.deliveries.forget(delivery)
                raise
        if any(job["new"] for job in result.jobs):  # a debounced job leaves the depth as is
            metrics.QUEUE_DEPTH.set(self.store.queue.depth())
        return result

    def _pull_branch(self, repository: str, number: int) -> str | None:
        return self.store.runs.pull_branch(self.forge, repository, number)

    def _enqueue_delivery(self, delivery: str, event: str, want: Enqueue) -> Outcome:
        forge = self.forge

        def attempt() -> tuple[int, bool] | str | None:
            return self.store.queue.deliver_and_enqueue(
                delivery, forge, event, want.repository, want.reason, want.delay, want.details
            )

        found = attempt()
        if found is None:  # an unknown repository: nothing was written
            added, why = self._resolve(want)
            if added is None:
                if delivery and not self.store.deliveries.first(delivery, forge, event):
                    return duplicate()
                return ignored(why, want.repository)
            found = attempt()
        if found is None:  # removed again in between
            return ignored("repository not installed", want.repository)
        if isinstance(found, str):  # DUPLICATE
            return duplicate()
        job, new = found
        entry = {"id": job, "repository": want.repository, "reason": want.reason, "new": new}
        return queued([entry], want.repository)

    def _resolve(self, want: Enqueue) -> tuple[RepositoryRow | None, str]:
        """An unknown repository added when that is safe; None, and why, otherwise.

        One the operator lists (`served`) is added as it is. Else when the payload's
        installation is one the bot knows (its `installation` delivery may have been
        missed), unless the repository was removed from it."""
        repositories = self.store.repositories
        if want.served:
            return repositories.add(self.forge, want.repository, None), ""
        if want.installation is None or not repositories.installation_active(
            self.forge, want.installation
        ):
            return None, "repository not installed"
        if repositories.known(self.forge, want.repository):
            return None, "repository was removed from the installation"
        return repositories.add(self.forge, want.repository, want.installation), ""

    def _install(self, delivery: str, event: str, want: Install) -> Outcome:
        forge = self.forge

        if want.uninstall:
            if not self.store.repositories.uninstall(delivery, forge, event, want.installation):
                return duplicate()
            what = f"installation {want.installation} removed"
            return Outcome(200, "recorded", {"status": "recorded", "what": what})
        done = self.store.repositories.install(
            delivery, forge, event, want.installation, want.account,
            list(want.added), list(want.removed),
        )  # fmt: skip
        if isinstance(done, str):  # DUPLICATE
            return duplicate()
        if done:
            return queued(
                [
                    {"id": job, "repository": name, "reason": "installation", "new": new}
                    for name, job, new in done
                ]
            )
        what = f"{len(want.removed)} repositories removed"
        return Outcome(200, "recorded", {"status": "recorded", "what": what})

    def _record_pull(self, want: RecordPull) -> Outcome:
        repositories = self.store.repositories
        if want.served:
            repository: RepositoryRow | None = repositories.add(self.forge, want.repository, None)
        else:
            repository = repositories.get(self.forge, want.repository)
        if repository is None:
            return ignored("repository not installed", want.repository)
        self.store.runs.record_pull(repository, want.number, want.branch, want.state, want.url)
        return recorded(want.number, want.state, want.repository)

    def _answer(
        self,
        event: str,
        delivery: str,
        action: str | None,
        result: Outcome,
        started: float,
    ) -> JSONResponse:
        forge = self.forge
        label = event if event in self.hooks.event_names else "other"
        metrics.WEBHOOKS.labels(forge=forge, event=label, outcome=result.outcome).inc()
        log.info(
            "webhook %s %s: %s",
            forge,
            label,
            result.outcome,
            extra={
                "forge": forge,
                "event": label,
                "action": action,
                "delivery": delivery[:MAX_DELIVERY_ID],
                "outcome": result.outcome,
                "status_code": result.status_code,
                "repository": result.repository,
                "jobs": [job["id"] for job in result.jobs],
                "why": result.body.get("why") or result.body.get("detail"),
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return JSONResponse(result.body, status_code=result.status_code)


def _action(payload: dict[str, Any] | None) -> str | None:
    """The payload's `action` (or GitLab's `object_attributes.action`) for the log line, when
    the delivery got as far as being parsed."""
    if payload is None:
        return None
    action = payload.get("action")
    attributes = payload.get("object_attributes")
    if action is None and isinstance(attributes, dict):
        action = attributes.get("action")
    return action if isinstance(action, str) else None


# Checks ------------------------------------------------------------------------------


def _check_length(request: Request, limit: int) -> None:
    """Refuses a declared body over the limit before a byte of it is read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise Refused(400, "invalid", "Content-Length is not a number")
    if int(declared) > limit:
        raise Refused(413, "too_large", f"the body is over {limit} bytes")


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, read no further than `limit` bytes (a chunked body has no length)."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise Refused(413, "too_large", f"the body is over {limit} bytes")
    return bytes(received)


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON, or GitHub's `application/x-www-form-urlencoded` form with a `payload` field."""
    try:
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            data = json.loads(fields["payload"][0])
        else:
            data = json.loads(body)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise Refused(400, "invalid", "the body is not a JSON payload") from exc
    except RecursionError as exc:
        raise Refused(400, "invalid", "the JSON payload is nested too deeply") from exc
    if not isinstance(data, dict):
        raise Refused(400, "invalid", "the payload is not a JSON object")
    return data


# Push rule ---------------------------------------------------------------------------
