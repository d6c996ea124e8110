"""LLM access for the agents: one chat protocol over OpenAI-compatible and Anthropic endpoints, a ledger of
every call in the store, and record/replay."""

from asiarch.llm.client import ChatClient, Completion, EndpointClient, LLMError, Message
from asiarch.llm.replay import RecordingClient, ReplayClient, ReplayMiss, client_for

__all__ = [
    "ChatClient",
    "Completion",
    "EndpointClient",
    "LLMError",
    "Message",
    "RecordingClient",
    "ReplayClient",
    "ReplayMiss",
    "client_for",
]
