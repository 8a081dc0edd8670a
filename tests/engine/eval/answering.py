"""A model under test with scripted behaviour: a real OpenAI-compatible HTTP server on loopback
whose reply to each choice is ``reply(prompt, seed)``. Used where a test needs a model that
behaves in one exact way (always answers D, writes a given program), which the mock teacher's
answer-key mode does not script."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from engine.testing.mock_teacher import bound_port

Reply = Callable[[str, int], str]
OPTION = re.compile(r"^([A-J])\) (.*)$", re.MULTILINE)


def options(prompt: str) -> dict[str, str]:
    """The lettered options ``A) text`` the engine put in a multiple-choice prompt."""
    return {letter: text.strip() for letter, text in OPTION.findall(prompt)}


@contextlib.asynccontextmanager
async def answering_server(reply: Reply) -> AsyncIterator[str]:
    """Serve ``reply`` on a free port; yields the base URL (``.../v1``)."""

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        prompt = "\n".join(m["content"] for m in body["messages"])
        seed = body.get("seed") or 0
        texts = [reply(prompt, seed + i) for i in range(int(body.get("n") or 1))]
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ]
        tokens = sum(max(1, len(t) // 4) for t in texts)
        usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": tokens}
        return web.json_response({"id": "x", "object": "chat.completion", "model": body["model"],
                                  "choices": choices, "usage": usage})  # fmt: skip

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}/v1"
    finally:
        await runner.cleanup()
