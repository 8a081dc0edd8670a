"""The official ``openai`` SDK, sync and async, runs against the mock teacher unmodified: chat,
text completions, n > 1, streaming with usage, models, and errors as the SDK's exceptions."""

from __future__ import annotations

import openai
import pytest

from engine.testing.tokens import count_tokens
from tests.helpers import mock_process

PROMPT = "Compute 2 + 3.\n\nPut your final answer within \\boxed{}."


def test_sync_client_chat_completions_models_and_errors() -> None:
    with mock_process("--api-key", "sk-mock") as url:
        client = openai.OpenAI(base_url=url, api_key="sk-mock", max_retries=0)
        chat = client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": PROMPT}], seed=4, max_tokens=4096
        )
        (choice,) = chat.choices
        assert (chat.object, chat.model, choice.index, choice.finish_reason) == (
            "chat.completion",
            "mock",
            0,
            "stop",
        )
        assert chat.id.startswith("chatcmpl-") and chat.created > 0 and choice.logprobs is None
        assert choice.message.role == "assistant" and "\\boxed{" in choice.message.content
        assert chat.usage.prompt_tokens == count_tokens(PROMPT)
        assert chat.usage.completion_tokens == count_tokens(choice.message.content)
        assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens

        text = client.completions.create(model="mock", prompt=PROMPT, seed=4, max_tokens=4096)
        assert text.object == "text_completion" and text.choices[0].text == choice.message.content
        assert text.usage.completion_tokens == chat.usage.completion_tokens

        assert [m.id for m in client.models.list()] == ["mock"]
        assert client.models.retrieve("mock").owned_by == "thoughtmill"

        wrong = openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as denied:
            wrong.chat.completions.create(model="mock", messages=[{"role": "user", "content": "x"}])
        assert denied.value.status_code == 401
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="mock", messages=[], n=1)


def test_sync_client_sees_500_and_429_as_its_exceptions() -> None:
    with mock_process("--error-rate", "1") as url:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as failed:
            client.completions.create(model="mock", prompt="hi")
        assert failed.value.status_code == 500
    with mock_process("--rpm", "1") as url:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        client.completions.create(model="mock", prompt="hi")
        with pytest.raises(openai.RateLimitError) as limited:
            client.completions.create(model="mock", prompt="hi")
        assert int(limited.value.response.headers["retry-after"]) > 0


async def test_async_client_n_choices_are_seeded_and_usage_totals_them(mock_teacher) -> None:
    async with mock_teacher() as mock:
        client = openai.AsyncOpenAI(base_url=mock.url, api_key="x", max_retries=0)
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
        many = await client.chat.completions.create(
            model="m", messages=messages, n=3, seed=10, max_tokens=4096
        )
        texts = [c.message.content for c in many.choices]
        assert [c.index for c in many.choices] == [0, 1, 2] and len(set(texts)) == 3
        assert many.usage.completion_tokens == sum(count_tokens(t) for t in texts)
        assert many.usage.prompt_tokens == count_tokens("Be brief.") + count_tokens(PROMPT)
        for i, text in enumerate(texts):  # choice i is the reply to seed + i, as vLLM does
            one = await client.chat.completions.create(
                model="m", messages=messages, seed=10 + i, max_tokens=4096
            )
            assert one.choices[0].message.content == text
        short = await client.completions.create(model="m", prompt=PROMPT, n=2, max_tokens=5)
        assert {c.finish_reason for c in short.choices} == {"length"}
        assert [count_tokens(c.text) for c in short.choices] == [5, 5]
        assert short.usage.completion_tokens == 10
        default = await client.completions.create(model="m", prompt=PROMPT)
        assert default.usage.completion_tokens == 16  # legacy completions default, as OpenAI's
        await client.close()


@pytest.mark.parametrize("api", ["chat", "text"])
async def test_async_streaming_matches_the_whole_reply_and_ends_with_usage(mock_teacher, api):
    async with mock_teacher(replies="realistic", trace_kb=(1, 2)) as mock:
        client = openai.AsyncOpenAI(base_url=mock.url, api_key="x", max_retries=0)
        if api == "chat":
            create = client.chat.completions.create
            request = {"messages": [{"role": "user", "content": PROMPT}]}
        else:
            create = client.completions.create
            request = {"prompt": PROMPT}
        request |= {"model": "m", "n": 2, "seed": 7, "max_tokens": 100000}
        whole = await create(**request)
        stream = await create(**request, stream=True, stream_options={"include_usage": True})
        parts, finish, usages = {0: [], 1: []}, {}, []
        async for chunk in stream:
            assert chunk.id.startswith("chatcmpl-" if api == "chat" else "cmpl-")
            if chunk.usage is not None:
                usages.append(chunk.usage)
            for c in chunk.choices:
                text = c.delta.content if api == "chat" else c.text
                parts[c.index].append(text or "")
                if c.finish_reason:
                    finish[c.index] = c.finish_reason
        texts = [c.message.content if api == "chat" else c.text for c in whole.choices]
        assert ["".join(parts[i]) for i in (0, 1)] == texts
        assert finish == {0: "stop", 1: "stop"}
        assert usages == [whole.usage]  # one usage, in the last chunk
        quiet = await create(**request, stream=True)
        chunks = [chunk async for chunk in quiet]
        assert all(chunk.usage is None for chunk in chunks) and chunks[-1].choices
        await client.close()
