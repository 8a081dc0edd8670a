"""Several OpenAI-compatible endpoints (data-parallel replicas) behind one backend.

Each request goes to the healthy replica with the fewest outstanding requests. A replica that
refuses connections, times out or fails its ``/health`` check is taken out at once: the requests
it still holds are cancelled and re-sent elsewhere (a request's samples are returned once, so
nothing is lost or written twice), and it is probed again with growing pauses until it answers.
With ``server_metrics = "vllm"`` each replica's in-flight ceiling is steered by its /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

import aiohttp
import msgspec

from engine.backends.base import BackendError, Generation, GenerationRequest
from engine.backends.limits import AIMDConcurrency
from engine.backends.openai_http import OpenAIBackend
from engine.backends.vllm_metrics import VLLMMetricsSteering
from engine.metrics import Metrics
from engine.records import Failure
from engine.specs import TeacherSpec

log = logging.getLogger(__name__)

# Failures that say the replica itself is gone, rather than this one request being refused.
_REPLICA_DOWN = ("connection", "timeout")
_MAX_PROBE_PAUSE_S = 60.0


def root_url(base_url: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000`` (where /health and /metrics live)."""
    url = base_url.rstrip("/")
    return url.removesuffix("/v1")


class Replica:
    """One endpoint: its own HTTP backend and limiter, health state and in-flight attempts."""

    def __init__(self, url: str, backend: OpenAIBackend, steering: VLLMMetricsSteering | None):
        self.url = url
        self.root = root_url(url)
        self.backend = backend
        self.steering = steering
        self.healthy = True
        self.outstanding = 0
        self.served = 0
        self.failed_probes = 0
        self.next_probe = 0.0
        self._attempts: set[asyncio.Future[Generation]] = set()

    async def send(self, request: GenerationRequest) -> Generation | None:
        """The generation, or None when the replica was taken out while it held the request."""
        self.outstanding += 1
        attempt = asyncio.ensure_future(self.backend.generate(request))
        self._attempts.add(attempt)
        try:
            await asyncio.wait({attempt})
        except asyncio.CancelledError:
            attempt.cancel()
            raise
        finally:
            self._attempts.discard(attempt)
            self.outstanding -= 1
        if attempt.cancelled():
            return None
        generation = attempt.result()
        self.served += 1
        return generation

    def take_out(self, now: float, pause_s: float) -> None:
        self.healthy = False
        self.failed_probes = 1
        self.next_probe = now + pause_s
        for attempt in self._attempts:
            attempt.cancel()


class ReplicaSet:
    """The Backend for ``teacher.base_urls`` (or one ``base_url`` steered by its /metrics)."""

    name = "openai"

    def __init__(self, spec: TeacherSpec, metrics: Metrics | None = None):
        self.spec = spec
        self.model = spec.model
        self.metrics = metrics or Metrics()
        self.replicas = [self._replica(url) for url in spec.base_urls or [spec.base_url]]
        self._back = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._health: asyncio.Task[None] | None = None

    def _replica(self, url: str) -> Replica:
        # One attempt per replica call: retries are this class's job, so they can go elsewhere.
        spec = msgspec.structs.replace(self.spec, base_url=url, base_urls=[], max_attempts=1)
        backend = OpenAIBackend(spec, self.metrics)
        steering = None
        if spec.server_metrics == "vllm":
            steering = VLLMMetricsSteering(
                root_url(url),
                backend.limiter.concurrency,
                maximum=spec.max_in_flight,
                initial=max(spec.min_in_flight, min(8, spec.max_in_flight)),
                queue_share=spec.server_queue_share,
            )
        return Replica(url, backend, steering)

    def limits(self) -> dict[str, AIMDConcurrency]:
        return {url: c for r in self.replicas for url, c in r.backend.limits().items()}

    async def preflight(self) -> str | None:
        """A refusal only when every replica refuses (a dead one alone is taken out later)."""
        problems = await asyncio.gather(*(r.backend.preflight() for r in self.replicas))
        if all(problems):
            return "; ".join(p for p in problems if p)
        for problem in filter(None, problems):
            log.warning("replica refuses requests: %s", problem)
        return None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=max(1.0, self.spec.health_interval_s))
        self._session = aiohttp.ClientSession(timeout=timeout)
        for replica in self.replicas:
            await replica.backend.start()
            if replica.steering is not None:
                await replica.steering.start()
        self._health = asyncio.ensure_future(self._check_health())

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        for replica in self.replicas:
            if replica.steering is not None:
                await replica.steering.close()
            await replica.backend.close()
        if self._session is not None:
            await self._session.close()

    async def generate(self, request: GenerationRequest) -> Generation:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            replica = await self._pick()
            try:
                generation = await replica.send(request)
            except BackendError as error:
                kind = error.failure.kind
                if kind in _REPLICA_DOWN:
                    self._take_out(replica, error.failure.detail)
                if kind == "client_error" or attempt >= self.spec.max_attempts:
                    raise BackendError(error.failure, attempt) from None
                self.metrics.retries += 1
                if kind not in _REPLICA_DOWN:  # the replica is up but refused: back off
                    await asyncio.sleep(random.uniform(0, self._backoff(attempt)))
                continue
            if generation is None:  # its replica went down mid-request: send it elsewhere
                self.metrics.retries += 1
                continue
            generation.attempts = attempt
            generation.latency_s = time.monotonic() - started
            return generation

    def _backoff(self, attempt: int) -> float:
        return min(self.spec.backoff_max_s, self.spec.backoff_base_s * 2 ** (attempt - 1))

    async def _pick(self) -> Replica:
        """The healthy replica with the fewest outstanding requests (random among ties)."""
        deadline = time.monotonic() + self.spec.request_timeout_s
        while True:
            self._back.clear()
            healthy = [r for r in self.replicas if r.healthy]
            if healthy:
                fewest = min(r.outstanding for r in healthy)
                return random.choice([r for r in healthy if r.outstanding == fewest])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                urls = ", ".join(r.url for r in self.replicas)
                raise BackendError(Failure("connection", f"no healthy replica among {urls}"))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._back.wait(), remaining)

    def _take_out(self, replica: Replica, reason: str) -> None:
        if replica.healthy:
            log.warning("replica %s taken out: %s", replica.url, reason)
            replica.take_out(time.monotonic(), self.spec.health_interval_s)

    async def _check_health(self) -> None:
        """Probe every replica each interval; a down one only when its pause has passed."""
        while True:
            await asyncio.gather(*(self._probe(r) for r in self.replicas))
            await asyncio.sleep(self.spec.health_interval_s)

    async def _probe(self, replica: Replica) -> None:
        now = time.monotonic()
        if not replica.healthy and now < replica.next_probe:
            return
        assert self._session is not None
        try:
            async with self._session.get(replica.root + "/health") as response:
                ok, reason = response.status == 200, f"/health answered {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            ok, reason = False, f"/health failed: {type(error).__name__}: {error}"
        if ok and not replica.healthy:
            log.warning("replica %s is back", replica.url)
            replica.healthy, replica.failed_probes = True, 0
            self._back.set()
        elif not ok and replica.healthy:
            self._take_out(replica, reason)
        elif not ok:
            replica.failed_probes += 1
            pause = self.spec.health_interval_s * 2 ** (replica.failed_probes - 1)
            replica.next_probe = now + min(_MAX_PROBE_PAUSE_S, pause)
