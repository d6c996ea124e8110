"""Every LLM call as a row of the store's ``llm_call`` table: prompt, answer, tokens, cost, latency, key.

A row's key is the request key (provider, model, messages, temperature, max_tokens) combined with its
occurrence: the n-th identical request of a campaign gets ``occurrence_key(request, n)``. Identical
requests are not rare — a researcher shown the same parent twice asks the same question — and a
sampled model may answer them differently; numbering them is what lets a replay hand back the first
answer to the first request and the second to the second, in order. The numbering is counted in the
store, so a campaign that resumes after a crash goes on from where it stopped. On SQLite the count and
the insert share one write transaction, so concurrent writers cannot take the same number; on
PostgreSQL two processes recording the very same request at the same instant could.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from asiarch.llm.client import Completion, Message
from asiarch.store.schema import LLMCall


def occurrence_key(request_key: str, occurrence: int) -> str:
    """The key of the ``occurrence``-th (from 0) identical request."""
    return hashlib.sha256(f"{request_key}#{occurrence}".encode()).hexdigest()


def find_call(session: Session, cache_key: str, campaign_id: int | None) -> LLMCall | None:
    """The earliest call recorded under ``cache_key`` (in ``campaign_id``, or in any campaign when None)."""
    query = select(LLMCall).where(LLMCall.cache_key == cache_key)
    if campaign_id is not None:
        query = query.where(LLMCall.campaign_id == campaign_id)
    return session.scalars(query.order_by(LLMCall.id).limit(1)).first()


def next_occurrence(session: Session, request_key: str, campaign_id: int | None) -> int:
    """How many identical requests this campaign (or, for None, the campaign-less calls) already recorded."""
    occurrence = 0
    while _recorded(session, occurrence_key(request_key, occurrence), campaign_id):
        occurrence += 1
    return occurrence


def _recorded(session: Session, cache_key: str, campaign_id: int | None) -> bool:
    scope = LLMCall.campaign_id.is_(None) if campaign_id is None else LLMCall.campaign_id == campaign_id
    return session.scalar(select(LLMCall.id).where(LLMCall.cache_key == cache_key, scope).limit(1)) is not None


def record_call(
    session: Session, *, campaign_id: int | None, agent: str, messages: list[Message], completion: Completion
) -> str:
    """Store one call (``completion.cache_key`` is its request key); return the row's occurrence key."""
    key = occurrence_key(completion.cache_key, next_occurrence(session, completion.cache_key, campaign_id))
    session.add(
        LLMCall(
            campaign_id=campaign_id,
            agent=agent,
            model=completion.model,
            prompt=json.dumps(messages, ensure_ascii=False),
            response=completion.text,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=completion.cost_usd,
            latency_s=completion.latency_s,
            cache_key=key,
        )
    )
    return key


@dataclass(frozen=True)
class AgentSpend:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float


def spend(session: Session, campaign_id: int | None) -> dict[str, AgentSpend]:
    """Calls, tokens, dollars and seconds per agent, for a campaign's LLM budget and report."""
    query = select(
        LLMCall.agent,
        func.count(LLMCall.id),
        func.coalesce(func.sum(LLMCall.prompt_tokens), 0),
        func.coalesce(func.sum(LLMCall.completion_tokens), 0),
        func.coalesce(func.sum(LLMCall.cost_usd), 0.0),
        func.coalesce(func.sum(LLMCall.latency_s), 0.0),
    ).group_by(LLMCall.agent)
    if campaign_id is not None:
        query = query.where(LLMCall.campaign_id == campaign_id)
    return {
        agent: AgentSpend(int(calls), int(p), int(c), float(cost), float(latency))
        for agent, calls, p, c, cost, latency in session.execute(query)
    }
