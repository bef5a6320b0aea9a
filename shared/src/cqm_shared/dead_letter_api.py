"""Admin endpoints over a service's dead-letter queues (死信队列), mounted by `create_app`.

Only `dead_letters:manage` (the admin role) may call them; a caller limited to some factories
sees and acts on those factories' messages only. A broker that cannot be reached is left to
the application's outage handler (503).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from cqm_shared.messaging.dead_letters import (
    EXAMINE_LIMIT,
    DeadLetterDetail,
    DeadLetterPage,
    DeadLetterQueues,
    DiscardResult,
    OriginalQueueMissing,
    QueueSummary,
    ReplayResult,
    UnknownQueue,
)
from cqm_shared.problems import PROBLEM_JSON
from cqm_shared.security.access import require
from cqm_shared.security.principal import Principal

PERMISSION = "dead_letters:manage"

Admin = Annotated[Principal, Depends(require(PERMISSION))]
QueueName = Annotated[
    str, Path(min_length=1, max_length=255, description="a dead-letter queue, or the queue it serves")
]
MessageId = Annotated[str, Path(min_length=1, max_length=255, description="the `message_id` a listing shows")]


class ReplayOne(BaseModel):
    """Replay the message with this id (every copy of it)."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(min_length=1, max_length=255)


class ReplayMatching(BaseModel):
    """Replay the messages whose reason contains this text (case-insensitive)."""

    model_config = ConfigDict(extra="forbid")
    reason_contains: str = Field(min_length=1, max_length=500, pattern=r"\S")


class ReplayAll(BaseModel):
    """Replay every message (up to the bound each call examines)."""

    model_config = ConfigDict(extra="forbid")
    all: Literal[True]


class DiscardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="why, for the audit trail 原因")


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The original queue does not exist yet", "content": {PROBLEM_JSON: {}}}
}


def dead_letters_router(audit_table: sa.Table) -> APIRouter:
    router = APIRouter(prefix="/admin/dead-letters", tags=["dead letters 死信"])

    def queues(request: Request) -> DeadLetterQueues:
        return DeadLetterQueues.of(request.app.state.runtime, audit_table)

    def resolved(request: Request, queue: str) -> DeadLetterQueues:
        found = queues(request)
        try:
            found.resolve(queue)
        except UnknownQueue as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return found

    @router.get("", response_model=list[QueueSummary], summary="死信队列 dead-letter queues, with reasons and counts")
    async def summaries(request: Request, principal: Admin) -> list[QueueSummary]:
        return await queues(request).summaries(principal.visible_factories())

    @router.get("/{queue}/messages", response_model=DeadLetterPage, summary="死信消息 dead letters of one queue")
    async def page(
        request: Request,
        principal: Admin,
        queue: QueueName,
        offset: Annotated[int, Query(ge=0, lt=EXAMINE_LIMIT)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DeadLetterPage:
        found = resolved(request, queue)
        return await found.page(queue, offset=offset, limit=limit, factories=principal.visible_factories())

    @router.get(
        "/{queue}/messages/{message_id}", response_model=DeadLetterDetail, summary="死信详情 one dead letter in full"
    )
    async def show(request: Request, principal: Admin, queue: QueueName, message_id: MessageId) -> DeadLetterDetail:
        found = resolved(request, queue)
        letter = await found.show(queue, message_id, principal.visible_factories())
        if letter is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _missing(found, queue, message_id))
        return letter

    @router.post(
        "/{queue}/replay",
        response_model=ReplayResult,
        summary="重新投递 replay dead letters to their original queue",
        responses=_CONFLICT,
    )
    async def replay(
        request: Request, principal: Admin, queue: QueueName, replay_request: ReplayOne | ReplayMatching | ReplayAll
    ) -> ReplayResult:
        found = resolved(request, queue)
        try:
            return await found.replay(
                queue,
                actor=principal.actor,
                message_id=replay_request.message_id if isinstance(replay_request, ReplayOne) else None,
                reason_contains=replay_request.reason_contains if isinstance(replay_request, ReplayMatching) else None,
                factories=principal.visible_factories(),
            )
        except OriginalQueueMissing as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @router.post(
        "/{queue}/messages/{message_id}/discard",
        response_model=DiscardResult,
        summary="丢弃 discard one dead letter, with the reason in the audit trail",
    )
    async def discard(
        request: Request, principal: Admin, queue: QueueName, message_id: MessageId, body: DiscardRequest
    ) -> DiscardResult:
        found = resolved(request, queue)
        done = await found.discard(
            queue, message_id, reason=body.reason, actor=principal.actor, factories=principal.visible_factories()
        )
        if done is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, _missing(found, queue, message_id))
        return done

    return router


def _missing(found: DeadLetterQueues, queue: str, message_id: str) -> str:
    return f"no dead letter {message_id} among the first {found.examine_limit} messages of {found.resolve(queue)[0]}"
