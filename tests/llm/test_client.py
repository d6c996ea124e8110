"""The endpoint client through the real openai and anthropic SDKs against local scripted servers."""

import time

import pytest

from asiarch.llm.client import EndpointClient, LLMError, request_key
from tests.llm.servers import (
    ANTHROPIC_PATH,
    Reply,
    ScriptedServer,
    chat_reply,
    endpoint_config,
    error_reply,
    message_reply,
    slow_reply,
    truncated_reply,
)

MESSAGES = [{"role": "system", "content": "You design layers."}, {"role": "user", "content": "Propose one."}]


def complete(server: ScriptedServer, agent: str = "planner", **overrides):
    config = endpoint_config(server.url, **overrides)
    return EndpointClient(config).complete(MESSAGES, agent=agent), config


def test_good_answer_carries_text_tokens_cost_and_key():
    with ScriptedServer([chat_reply("NAME: x", prompt_tokens=1000, completion_tokens=250)]) as server:
        completion, config = complete(server, temperature=0.3, max_tokens=77)
    sent = server.requests[0]
    assert (sent["model"], sent["messages"], sent["temperature"], sent["max_tokens"]) == ("fake-1", MESSAGES, 0.3, 77)
    assert completion.text == "NAME: x"
    assert (completion.prompt_tokens, completion.completion_tokens, completion.model) == (1000, 250, "fake-1")
    assert completion.cost_usd == pytest.approx((1000 * 2.0 + 250 * 8.0) / 1e6)
    assert completion.latency_s > 0
    assert completion.cache_key == request_key(config.planner, MESSAGES)


def test_request_key_changes_with_what_changes_the_answer():
    config = endpoint_config("http://unused")
    base = request_key(config.planner, MESSAGES)
    assert base == request_key(config.planner.model_copy(), [dict(m) for m in MESSAGES])
    for change in ({"temperature": 0.1}, {"max_tokens": 5}, {"model": "other"}, {"provider": "anthropic"}):
        assert request_key(config.planner.model_copy(update=change), MESSAGES) != base
    assert request_key(config.planner, MESSAGES[:1]) != base


def test_timeout_is_retried_then_succeeds():
    with ScriptedServer([slow_reply(chat_reply("late"), 3.0), chat_reply("on time")]) as server:
        start = time.monotonic()
        completion, _ = complete(server, timeout_s=0.4)
        elapsed = time.monotonic() - start
    assert completion.text == "on time"
    assert elapsed < 2.5  # the first request was abandoned at the 0.4 s timeout, not answered 3 s late
    assert len(server.requests) == 2


def test_rate_limit_is_retried_after_the_servers_retry_after():
    with ScriptedServer([error_reply(429, "slow down", **{"Retry-After": "0.3"}), chat_reply("ok")]) as server:
        start = time.monotonic()
        completion, _ = complete(server)
        elapsed = time.monotonic() - start
    assert completion.text == "ok" and len(server.requests) == 2
    assert elapsed >= 0.3  # the configured backoff is 0.01 s: the server's Retry-After was honoured


def test_server_errors_exhaust_the_retries_with_one_clear_line():
    with ScriptedServer([error_reply(500, "boom")] * 5) as server:
        with pytest.raises(LLMError) as info:
            complete(server, max_retries=2)
    message = str(info.value)
    assert "llm.planner" in message and "gave up after 3 attempts" in message and "HTTP 500" in message
    assert "\n" not in message
    assert len(server.requests) == 3  # the SDK's own retries are off: they would have multiplied these


def test_truncated_body_is_retried():
    with ScriptedServer([truncated_reply(), chat_reply("whole")]) as server:
        completion, _ = complete(server)
    assert completion.text == "whole"


def test_always_truncated_body_says_so():
    with ScriptedServer([truncated_reply()] * 2) as server:
        with pytest.raises(LLMError, match="unreadable response body"):
            complete(server, max_retries=1)


def test_empty_content_is_an_empty_answer_not_a_crash():
    with ScriptedServer([chat_reply(None)]) as server:
        completion, _ = complete(server)
    assert completion.text == ""


def test_a_huge_answer_is_refused_in_one_line_and_not_asked_again():
    with ScriptedServer([chat_reply("x" * 5_000_000), chat_reply("never")]) as server:
        with pytest.raises(LLMError, match=r"^llm.planner: .* answered 5,000,000 characters, more than llm.planner."
                           r"max_tokens \(4,096\) allows \(~65,536\); the server ignores max_tokens"):  # fmt: skip
            complete(server, max_tokens=4096)
    assert len(server.requests) == 1


def test_client_error_is_not_retried():
    with ScriptedServer([error_reply(400, "bad model"), chat_reply("never")]) as server:
        with pytest.raises(LLMError, match=r"the request to .* failed: HTTP 400: bad model$"):
            complete(server)
    assert len(server.requests) == 1


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ASIARCH_TEST_NO_SUCH_KEY", raising=False)
    config = endpoint_config("http://127.0.0.1:9", api_key_env="ASIARCH_TEST_NO_SUCH_KEY")
    with pytest.raises(LLMError) as info:
        EndpointClient(config).complete(MESSAGES, agent="debugger")
    message = str(info.value)
    assert "ASIARCH_TEST_NO_SUCH_KEY is not set" in message and "llm.debugger.api_key_env" in message
    assert "\n" not in message


def test_key_from_the_named_variable_is_sent(monkeypatch):
    monkeypatch.setenv("ASIARCH_TEST_KEY", "sk-test-123")
    with ScriptedServer([chat_reply("ok")]) as server:
        complete(server, api_key_env="ASIARCH_TEST_KEY")
    assert server.headers[0]["authorization"] == "Bearer sk-test-123"


def test_unknown_agent_is_a_clear_error():
    with pytest.raises(LLMError, match="unknown LLM agent 'poet'"):
        EndpointClient(endpoint_config("http://unused")).complete(MESSAGES, agent="poet")


def test_anthropic_messages_protocol():
    reply = message_reply("NAME: y", input_tokens=400, output_tokens=100)
    with ScriptedServer([error_reply(529, "overloaded"), reply], path=ANTHROPIC_PATH) as server:
        config = endpoint_config(server.url, provider="anthropic", model="claude-fake", max_tokens=321)
        completion = EndpointClient(config).complete(MESSAGES, agent="judge")
    assert completion.text == "NAME: y" and completion.model == "claude-fake"
    assert (completion.prompt_tokens, completion.completion_tokens) == (400, 100)
    assert completion.cost_usd == pytest.approx((400 * 2.0 + 100 * 8.0) / 1e6)
    sent = server.requests[-1]
    assert len(server.requests) == 2  # the 529 (overloaded) was retried
    assert sent["system"] == "You design layers."
    assert sent["messages"] == [{"role": "user", "content": "Propose one."}]
    assert (sent["model"], sent["max_tokens"]) == ("claude-fake", 321)


def test_answer_without_choices_is_a_clear_error():
    with ScriptedServer([Reply(200, b'{"id": "x", "object": "chat.completion", "choices": []}')]) as server:
        with pytest.raises(LLMError, match=r"llm.planner: http://127.0.0.1:\d+/v1 answered without any choices"):
            complete(server)


def test_rejected_key_says_where_the_key_comes_from(monkeypatch):
    monkeypatch.setenv("ASIARCH_TEST_KEY", "sk-wrong")
    with ScriptedServer([error_reply(401, "invalid api key")]) as server:
        with pytest.raises(LLMError, match=r"HTTP 401: invalid api key; check the key in \$ASIARCH_TEST_KEY$"):
            complete(server, api_key_env="ASIARCH_TEST_KEY")
    assert len(server.requests) == 1
