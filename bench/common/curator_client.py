"""Bespoke Curator as a user runs it, against an OpenAI-compatible URL: one bench round.

Run by bench/engine_throughput.py with a Python that has ``bespokelabs-curator`` (its own venv
is fine: this file imports nothing of the project). Reads a JSON request on stdin
``{"url", "prompts", "in_flight", "max_tokens", "workdir"}`` and prints one JSON line
``{"seconds", "rows", "failed"}``: the time of ``llm(prompts)``, which is Curator's whole job
(requests, parsing, its response files and the returned dataset), without import and setup.

Offline and fair: telemetry off, its cache in ``workdir`` and disabled, its tiktoken encoder
(a download) replaced by a 4-bytes-a-token count that costs less than the real one, the same
concurrency as the engine, rate limits far above what the mock can serve, and ``length`` not
counted as a failure (the engine keeps truncated replies too, so neither retries them).
"""

from __future__ import annotations

import json
import os
import sys
import time


class _ApproximateEncoding:
    """Stands in for tiktoken's cl100k_base: Curator only takes ``len`` of what it encodes."""

    def encode(self, text: str, **_: object) -> range:
        return range(len(text) // 4 + 1)


def main() -> None:
    job = json.loads(sys.stdin.read())
    workdir = job["workdir"]
    os.environ.update(
        TELEMETRY_ENABLED="false",
        CURATOR_DISABLE_CACHE="true",
        CURATOR_CACHE_DIR=os.path.join(workdir, "curator"),
        HF_DATASETS_CACHE=os.path.join(workdir, "hf"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        OPENAI_API_KEY="unused",
    )
    from bespokelabs import curator
    from bespokelabs.curator.request_processor.online import openai_online_request_processor

    openai_online_request_processor.OpenAIOnlineRequestProcessor.get_token_encoding = lambda self: (
        _ApproximateEncoding()
    )
    llm = curator.LLM(
        model_name="mock",
        backend="openai",
        generation_params={"max_tokens": job["max_tokens"], "seed": 1},
        backend_params={
            "base_url": job["url"],
            "api_key": "unused",
            "max_concurrent_requests": job["in_flight"],
            "max_requests_per_minute": 10**9,
            "max_tokens_per_minute": 10**12,
            "require_all_responses": False,
            "invalid_finish_reasons": ["content_filter"],
        },
    )
    started = time.perf_counter()
    response = llm(job["prompts"])
    seconds = time.perf_counter() - started
    rows, failed = len(response.dataset), response.request_stats.failed
    print(json.dumps({"seconds": seconds, "rows": rows, "failed": failed}))


if __name__ == "__main__":
    main()
