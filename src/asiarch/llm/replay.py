"""Record and replay: every real call goes to the store; a replay answers from the store and calls nothing.

A replay hands back, for the n-th identical request it sees, the answer recorded for the n-th
identical request (``asiarch.llm.ledger``), so a campaign driven by recorded answers makes the same
proposals in the same order — without the endpoint, a key or a dollar. Replayed calls are not
recorded again: they cost nothing, and a replay that read its own rows back would serve itself.
The replay counts occurrences from the start of the process, so replay a campaign from its start.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

from asiarch.config import ConfigError, LLMConfig
from asiarch.llm import ledger
from asiarch.llm.client import ChatClient, Completion, EndpointClient, LLMError, Message, request_key
from asiarch.store.db import Store
from asiarch.store.queries import find_campaign


class ReplayMiss(LLMError):
    """A replayed call whose answer was never recorded."""


class RecordingClient:
    """Wraps a real client; every answer it gets is written to the store before it is returned."""

    def __init__(self, inner: ChatClient, store: Store, campaign_id: int | None = None) -> None:
        self._inner = inner
        self._store = store
        self._campaign_id = campaign_id

    def complete(self, messages: list[Message], *, agent: str) -> Completion:
        completion = self._inner.complete(messages, agent=agent)
        with self._store.session() as session:
            key = ledger.record_call(
                session, campaign_id=self._campaign_id, agent=agent, messages=messages, completion=completion
            )
        return replace(completion, cache_key=key)


class ReplayClient:
    """Serves recorded answers by (request, occurrence); a request never recorded is a ``ReplayMiss``."""

    def __init__(self, config: LLMConfig, store: Store, campaign_id: int | None = None) -> None:
        self._config = config
        self._store = store
        self._campaign_id = campaign_id
        self._seen: Counter[str] = Counter()

    def complete(self, messages: list[Message], *, agent: str) -> Completion:
        start = time.monotonic()
        try:
            settings = self._config.agent(agent)
        except ConfigError as exc:
            raise LLMError(str(exc)) from exc
        request = request_key(settings, messages)
        occurrence = self._seen[request]
        with self._store.session() as session:
            row = ledger.find_call(session, ledger.occurrence_key(request, occurrence), self._campaign_id)
            if row is None:
                raise ReplayMiss(self._miss(agent, occurrence))
            text, model, tokens = row.response, row.model, (row.prompt_tokens, row.completion_tokens)
            key = row.cache_key
        self._seen[request] += 1
        return Completion(
            text=text,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            latency_s=time.monotonic() - start,
            model=model,
            cost_usd=0.0,
            cache_key=key,
        )

    def _miss(self, agent: str, occurrence: int) -> str:
        where = "the store" if self._campaign_id is None else f"campaign #{self._campaign_id}"
        nth = f" (occurrence {occurrence + 1} of an identical request)" if occurrence else ""
        return (
            f"replay: this {agent} call{nth} was never recorded in {where} (its prompt or llm.{agent} settings "
            "differ from the recorded run); set llm.replay=false to call the endpoint"
        )


def client_for(config: LLMConfig, store: Store, campaign_id: int | None = None) -> ChatClient:
    """The client a campaign uses: a replay of ``llm.replay_campaign`` when ``llm.replay`` is set, else the
    configured endpoints with every call recorded under ``campaign_id``."""
    if not config.replay:
        return RecordingClient(EndpointClient(config), store, campaign_id)
    if config.replay_campaign is None:
        return ReplayClient(config, store)
    with store.session() as session:
        source = find_campaign(session, config.replay_campaign)
        if source is None:
            raise LLMError(
                f"llm.replay_campaign: no campaign {config.replay_campaign!r} in the store to replay; "
                "`asiarch status` lists the campaigns"
            )
        return ReplayClient(config, store, source.id)
