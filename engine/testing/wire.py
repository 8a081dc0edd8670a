"""The OpenAI wire format the mock speaks: requests as typed Structs, responses, stream chunks
and errors shaped as OpenAI's (and vLLM's) ``/v1/chat/completions``, ``/v1/completions`` and
``/v1/models`` give them, so the official SDK and other clients read them unmodified."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Api = Literal["chat", "text"]


class ContentPart(msgspec.Struct):
    type: str = "text"
    text: str = ""


class Message(msgspec.Struct):
    role: str = "user"
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class CompletionRequest(msgspec.Struct):
    """The fields of a completion request the mock reads; others (temperature...) are ignored."""

    model: str = "mock"
    messages: list[Message] | None = None
    prompt: str | list[str] | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] = 1
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def prompt_text(self, api: Api) -> str:
        """The text the reply answers: chat messages joined by newlines, or the prompt."""
        if api == "chat":
            if not self.messages:
                raise ValueError("'messages' is a required property")
            return "\n".join(m.text() for m in self.messages)
        prompt = self.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise ValueError("the mock answers one prompt per request")
            prompt = prompt[0]
        if prompt is None:
            raise ValueError("'prompt' is a required property")
        return prompt

    def token_limit(self, api: Api) -> int | None:
        """The reply budget; legacy completions default to 16 tokens, as OpenAI's do."""
        limit = self.max_completion_tokens or self.max_tokens
        return limit if limit is not None or api == "chat" else 16


class Choice(msgspec.Struct, frozen=True):
    text: str
    finish_reason: Literal["stop", "length"]
    tokens: int


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    total = prompt_tokens + completion_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total,
    }


class Envelope(msgspec.Struct, frozen=True):
    """What every body of one response carries: its kind, id, creation time and model."""

    api: Api
    id: str
    created: int
    model: str

    def _head(self, streamed: bool) -> dict[str, Any]:
        kind = "text_completion" if self.api == "text" else "chat.completion"
        if streamed and self.api == "chat":
            kind += ".chunk"
        head = {"id": self.id, "object": kind, "created": self.created, "model": self.model}
        return head | {"system_fingerprint": None}

    def completion(self, choices: list[Choice], prompt_tokens: int) -> dict[str, Any]:
        """A whole (non-streamed) response; usage totals the choices."""
        body = []
        for index, choice in enumerate(choices):
            item: dict[str, Any] = {"index": index}
            if self.api == "chat":
                item["message"] = {"role": "assistant", "content": choice.text}
            else:
                item["text"] = choice.text
            body.append(item | {"logprobs": None, "finish_reason": choice.finish_reason})
        completion_tokens = sum(choice.tokens for choice in choices)
        return self._head(False) | {
            "choices": body,
            "usage": usage(prompt_tokens, completion_tokens),
        }

    def chunk(
        self, index: int, text: str = "", finish_reason: str | None = None, *, opening: bool = False
    ) -> dict[str, Any]:
        """One event of a stream: a chat stream opens each choice with its role and closes it
        with an empty delta that carries the finish reason."""
        if self.api == "chat":
            if opening:
                delta: dict[str, Any] = {"role": "assistant", "content": ""}
            else:
                delta = {"content": text} if finish_reason is None else {}
            item: dict[str, Any] = {"index": index, "delta": delta}
        else:
            item = {"index": index, "text": text}
        item |= {"logprobs": None, "finish_reason": finish_reason}
        return self._head(True) | {"choices": [item]}

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """The last event when ``stream_options.include_usage`` is set: no choices, the usage."""
        return self._head(True) | {
            "choices": [],
            "usage": usage(prompt_tokens, completion_tokens),
        }


ErrorType = Literal[
    "invalid_request_error", "authentication_error", "rate_limit_error", "server_error"
]


def error(message: str, kind: ErrorType, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "thoughtmill"}
