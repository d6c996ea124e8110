"""Chat clients behind one small protocol: messages in, a ``Completion`` with its tokens, cost and latency out.

``EndpointClient`` sends each agent's calls to the endpoint configured for that agent (``llm.planner``,
``llm.debugger``, …) through the ``openai`` SDK (any OpenAI-compatible server: OpenAI, vLLM, Ollama,
llama.cpp, OpenRouter) or the ``anthropic`` SDK. Retries are ours and bounded: timeouts, connection
errors, unreadable bodies, 429 and 5xx are retried with exponential backoff; anything else, or the last
failure, is one ``LLMError`` line. The SDKs' own retries are switched off, because they would multiply
ours silently. The SDKs are imported only when an agent is first used: together they take over a second
to import, which a campaign with the offline researcher should not pay.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from asiarch.config import ConfigError, LLMAgentConfig, LLMConfig

Message = dict[str, str]
"""One chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

NO_KEY = "not-needed"
"""Sent as the API key to servers that need none (the SDKs refuse to start without one)."""

TOKENS_PER_MILLION = 1_000_000
RETRY_STATUS_FLOOR = 500
"""HTTP statuses from here up (server errors, overload) are retried, as is 429."""
TOO_MANY_REQUESTS = 429
AUTH_STATUSES = (401, 403)
MAX_ERROR_CHARS = 200
"""An error page (HTML from a proxy) is cut to this many characters in the one-line error."""
MAX_CHARS_PER_TOKEN = 16
"""No tokenizer averages more characters per token than this: a longer answer did not honour ``max_tokens``, and
is refused before it reaches a prompt, a parser or the store."""


class LLMError(RuntimeError):
    """An LLM call that cannot be completed, as one line naming the agent, the problem and the fix."""


@dataclass(frozen=True)
class Completion:
    """One answer. ``latency_s`` is the successful request's (retries excluded). ``cache_key`` is the request's
    key; once recorded or replayed, the key of its row in the store (request key + occurrence, see
    ``asiarch.llm.ledger``)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    model: str
    cost_usd: float
    cache_key: str


class ChatClient(Protocol):
    """What agents call: one chat completion for ``agent`` (which selects the configured endpoint)."""

    def complete(self, messages: list[Message], *, agent: str) -> Completion: ...


def request_key(settings: LLMAgentConfig, messages: list[Message]) -> str:
    """sha256 of everything that determines an answer's distribution: provider, model, messages, sampling."""
    payload = {
        "provider": settings.provider,
        "model": settings.model,
        "messages": messages,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def call_cost(settings: LLMAgentConfig, prompt_tokens: int, completion_tokens: int) -> float:
    """USD at the configured prices (0 when they are 0, e.g. a local model)."""
    return (
        prompt_tokens * settings.input_price_per_mtok + completion_tokens * settings.output_price_per_mtok
    ) / TOKENS_PER_MILLION


def api_key(settings: LLMAgentConfig, agent: str) -> str:
    if not settings.api_key_env:
        return NO_KEY
    key = os.environ.get(settings.api_key_env)
    if not key:
        raise LLMError(
            f"llm.{agent}: environment variable {settings.api_key_env} is not set; export it, or set "
            f'llm.{agent}.api_key_env to the variable holding the key ("" for a local server that needs none)'
        )
    return key


@dataclass(frozen=True)
class _Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass(frozen=True)
class _Transient:
    reason: str
    retry_after_s: float | None = None


class _Backend:
    """One agent's SDK client. Subclasses send a request; failures are classified here, for both SDKs,
    whose exception hierarchies have the same shape."""

    sdk: ModuleType

    def __init__(self, settings: LLMAgentConfig, agent: str) -> None:
        self.settings = settings
        self.agent = agent
        self.where = settings.base_url or f"the {settings.provider} API"

    def send(self, messages: list[Message]) -> _Answer:
        raise NotImplementedError

    def failure(self, exc: Exception) -> _Transient | str:
        """A retryable failure, or the one-line reason of a final one."""
        sdk = self.sdk
        if isinstance(exc, sdk.APITimeoutError):
            return _Transient(f"no answer within {self.settings.timeout_s:g} s (llm.{self.agent}.timeout_s)")
        if isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc
            return _Transient(f"connection failed ({type(cause).__name__}: {_first_line(cause)})")
        if isinstance(exc, json.JSONDecodeError):
            return _Transient(f"unreadable response body (invalid or truncated JSON: {exc.msg} at char {exc.pos})")
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            detail = f"HTTP {status}: {_status_message(exc)}"
            if status == TOO_MANY_REQUESTS or status >= RETRY_STATUS_FLOOR:
                return _Transient(detail, _retry_after(exc.response.headers.get("retry-after")))
            if status in AUTH_STATUSES:
                env = self.settings.api_key_env
                return f"{detail}; " + (f"check the key in ${env}" if env else f"set llm.{self.agent}.api_key_env")
            return detail
        return f"{type(exc).__name__}: {_first_line(exc)}"


class _OpenAIBackend(_Backend):
    def __init__(self, settings: LLMAgentConfig, agent: str) -> None:
        super().__init__(settings, agent)
        import openai

        self.sdk = openai
        self.client = openai.OpenAI(
            api_key=api_key(settings, agent), base_url=settings.base_url, timeout=settings.timeout_s, max_retries=0
        )

    def send(self, messages: list[Message]) -> _Answer:
        response = self.client.chat.completions.create(
            model=self.settings.model,
            messages=messages,
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
        )
        if not response.choices:
            raise LLMError(f"llm.{self.agent}: {self.where} answered without any choices")
        usage = response.usage
        return _Answer(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model or self.settings.model,
        )


class _AnthropicBackend(_Backend):
    def __init__(self, settings: LLMAgentConfig, agent: str) -> None:
        super().__init__(settings, agent)
        import anthropic

        self.sdk = anthropic
        self.client = anthropic.Anthropic(
            api_key=api_key(settings, agent), base_url=settings.base_url, timeout=settings.timeout_s, max_retries=0
        )

    def send(self, messages: list[Message]) -> _Answer:
        """The Messages API takes system text as a parameter, not as a message, and (in SDK 2.x) no
        sampling temperature: ``temperature`` applies to OpenAI-compatible endpoints only."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        extra = {"system": system} if system else {}
        response = self.client.messages.create(
            model=self.settings.model,
            messages=turns,
            max_tokens=self.settings.max_tokens,
            **extra,
        )
        text = "".join(block.text for block in response.content if block.type == "text")
        return _Answer(text, response.usage.input_tokens, response.usage.output_tokens, response.model)


BACKENDS: dict[str, type[_Backend]] = {"openai": _OpenAIBackend, "anthropic": _AnthropicBackend}


class EndpointClient:
    """Sends each agent's calls to its configured endpoint, with bounded retries."""

    def __init__(self, config: LLMConfig) -> None:
        self._config = config
        self._backends: dict[str, _Backend] = {}

    def complete(self, messages: list[Message], *, agent: str) -> Completion:
        backend = self._backend(agent)
        settings = backend.settings
        answer, latency = _with_retries(backend, messages)
        limit = settings.max_tokens * MAX_CHARS_PER_TOKEN
        if len(answer.text) > limit:
            raise LLMError(
                f"llm.{agent}: {backend.where} answered {len(answer.text):,} characters, more than llm.{agent}."
                f"max_tokens ({settings.max_tokens:,}) allows (~{limit:,}); the server ignores max_tokens: check "
                "its settings"
            )
        return Completion(
            text=answer.text,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            latency_s=latency,
            model=answer.model,
            cost_usd=call_cost(settings, answer.prompt_tokens, answer.completion_tokens),
            cache_key=request_key(settings, messages),
        )

    def _backend(self, agent: str) -> _Backend:
        if agent not in self._backends:
            try:
                settings = self._config.agent(agent)
            except ConfigError as exc:
                raise LLMError(str(exc)) from exc
            self._backends[agent] = BACKENDS[settings.provider](settings, agent)
        return self._backends[agent]


def _with_retries(backend: _Backend, messages: list[Message]) -> tuple[_Answer, float]:
    settings = backend.settings
    attempts = settings.max_retries + 1
    for attempt in range(attempts):
        start = time.monotonic()
        try:
            return backend.send(messages), time.monotonic() - start
        except (backend.sdk.APIError, json.JSONDecodeError) as exc:
            failure = backend.failure(exc)
        if isinstance(failure, str):
            raise LLMError(f"llm.{backend.agent}: the request to {backend.where} failed: {failure}")
        if attempt + 1 < attempts:
            time.sleep(_delay(settings, attempt, failure.retry_after_s))
    raise LLMError(
        f"llm.{backend.agent}: gave up after {attempts} attempts at {backend.where}: {failure.reason} "
        f"(raise llm.{backend.agent}.max_retries or timeout_s, or check the server)"
    )


def _delay(settings: LLMAgentConfig, attempt: int, retry_after_s: float | None) -> float:
    """Exponential backoff, or the server's Retry-After when longer; never beyond the configured cap."""
    delay = settings.backoff_s * 2**attempt
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, settings.max_backoff_s)


def _retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header; its HTTP-date form is ignored (the backoff applies)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def _status_message(exc: Exception) -> str:
    """The server's own error message: OpenAI's SDK unwraps ``{"error": {...}}``, Anthropic's does not."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return _first_line(inner["message"])
    if isinstance(body, str) and body.strip():
        return _first_line(body)[:MAX_ERROR_CHARS]
    return "(no message)"


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else "(no message)"
