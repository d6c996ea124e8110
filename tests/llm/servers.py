"""Local HTTP servers speaking the OpenAI chat-completions and Anthropic Messages protocols.

Each serves a script of replies in order (one per POST) from a thread, and keeps the JSON bodies it
received, so tests drive the real SDKs over real sockets and check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asiarch.config import LLM_AGENTS, LLMAgentConfig, LLMConfig

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: dict, status: int = 200, **headers: str) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=headers)


def chat_reply(text: str | None, prompt_tokens: int = 100, completion_tokens: int = 50, model: str = "fake-1") -> Reply:
    """An OpenAI chat.completion; ``text=None`` is a null content, as some servers send."""
    return _json(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def message_reply(text: str, input_tokens: int = 100, output_tokens: int = 50, model: str = "claude-fake") -> Reply:
    """An Anthropic Messages API message."""
    return _json(
        {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    )


def error_reply(status: int, message: str, **headers: str) -> Reply:
    return _json({"error": {"message": message, "type": "test_error"}}, status, **headers)


def truncated_reply(text: str = "cut short") -> Reply:
    """A 200 whose JSON body stops half-way (with a matching Content-Length)."""
    body = chat_reply(text).body
    return Reply(200, body[: len(body) // 2])


def slow_reply(reply: Reply, delay_s: float) -> Reply:
    return Reply(reply.status, reply.body, delay_s, reply.headers)


class ScriptedServer:
    """Answers POSTs on ``path`` with the scripted replies in order; an exhausted script is a 400."""

    def __init__(self, replies: list[Reply], path: str = OPENAI_PATH) -> None:
        self.replies = list(replies)
        self.path = path
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _next(self, body: dict, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.replies:
                return self.replies.pop(0)
        return error_reply(400, "fake server: no scripted reply left")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != server.path:
                    reply = error_reply(404, f"fake server: no route {self.path}")
                else:
                    reply = server._next(body, {k.lower(): v for k, v in self.headers.items()})
                time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

        return Handler


def endpoint_config(url: str, provider: str = "openai", **overrides: object) -> LLMConfig:
    """Every agent pointed at a local server: no key, short timeouts and backoff, known prices."""
    settings = {
        "provider": provider,
        "model": "fake-1",
        "base_url": f"{url}/v1" if provider == "openai" else url,
        "api_key_env": "",
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.01,
        "input_price_per_mtok": 2.0,
        "output_price_per_mtok": 8.0,
        **overrides,
    }
    agent = LLMAgentConfig(**settings)
    return LLMConfig(**{name: agent for name in LLM_AGENTS})
