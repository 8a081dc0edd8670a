"""The dashboard server: the page at ``/``, its JSON API, and the job's ``/status``,
``/metrics`` and ``/healthz``. Serves a running job (live counters) or an output alone
(``python -m engine view OUTDIR``, read-only). Reads of the output run off the event loop.

Bound to 127.0.0.1 by default; with a token, every request must carry it (``?token=`` once,
which sets a cookie, or ``Authorization: Bearer``).
"""

from __future__ import annotations

import asyncio
import collections
import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from engine.dashboard.data import OutputView
from engine.metrics import Metrics
from engine.prometheus import exposition

STATIC = resources.files("engine.dashboard") / "static"
HISTORY_POINTS = 3600  # one an interval: an hour of points at the default second

_encode = msgspec.json.Encoder().encode


class History:
    """A ring of (time, counters) points sampled from the live metrics, for the charts."""

    def __init__(self, metrics: Metrics, every_s: float = 1.0):
        self.metrics = metrics
        self.every_s = every_s
        self.points: collections.deque[dict[str, float | None]] = collections.deque(
            maxlen=HISTORY_POINTS
        )

    def sample(self) -> None:
        s = self.metrics.snapshot()
        self.points.append(
            {
                "t": round(s.elapsed_s, 1),
                "samples": s.samples_written,
                "requests": s.requests,
                "completion_tokens": self.metrics.completion_tokens,
                "pass_rate": s.pass_rate,
                "in_flight": s.in_flight,
            }
        )

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)


def _json(value: object) -> web.Response:
    return web.Response(body=_encode(value), content_type="application/json")


def make_app(
    view: OutputView, metrics: Metrics | None = None, token: str | None = None
) -> web.Application:
    """The dashboard for ``view``'s output; ``metrics`` of the job writing it, when one runs."""
    history = History(metrics) if metrics is not None else None

    async def off_loop(function: Callable[..., object], *args: object) -> web.Response:
        return _json(await asyncio.to_thread(function, *args))

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "index.html").read_text(), content_type="text/html")

    async def status(_request: web.Request) -> web.Response:
        if metrics is None:
            manifest = await asyncio.to_thread(view.manifest)
            return _json({"state": manifest.state if manifest else "unknown", "live": False})
        return _json(msgspec.to_builtins(metrics.snapshot()) | {"live": True})

    async def summary(_request: web.Request) -> web.Response:
        return await off_loop(view.summary)

    async def series(_request: web.Request) -> web.Response:
        return _json(list(history.points) if history is not None else [])

    async def lengths(_request: web.Request) -> web.Response:
        return await off_loop(view.lengths)

    async def failures(_request: web.Request) -> web.Response:
        return await off_loop(view.failures)

    async def records(request: web.Request) -> web.Response:
        q = request.query
        try:
            offset, limit = int(q.get("offset", 0)), min(int(q.get("limit", 50)), 500)
        except ValueError:
            raise web.HTTPBadRequest(text="offset and limit must be integers") from None
        domain, outcome, source = (
            q.get("domain") or None,
            q.get("outcome") or None,
            q.get("source") or None,
        )
        return await off_loop(view.records, domain, outcome, source, offset, limit)

    async def record(request: web.Request) -> web.Response:
        try:
            index = int(request.query["sample_index"])
            question_id = request.query["question_id"]
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(text="question_id and sample_index are required") from None
        found = await asyncio.to_thread(view.record, question_id, index)
        if found is None:
            raise web.HTTPNotFound(text="no such record")
        return _json(found)

    async def prometheus(_request: web.Request) -> web.Response:
        body = exposition(metrics) if metrics is not None else b""
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        state = metrics.state if metrics is not None else "viewing"
        return web.Response(text=state, status=503 if state == "failed" else 200)

    app = web.Application(middlewares=[_guard(token)] if token else [])
    app.router.add_get("/", index)
    app.router.add_static("/static", Path(str(STATIC)))
    for path, handler in (
        ("/status", status),
        ("/api/summary", summary),
        ("/api/series", series),
        ("/api/lengths", lengths),
        ("/api/failures", failures),
        ("/api/records", records),
        ("/api/record", record),
        ("/metrics", prometheus),
        ("/healthz", healthz),
    ):
        app.router.add_get(path, handler)
    if history is not None:
        app.cleanup_ctx.append(_background(history.run))
    return app


def _guard(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse requests without the token (compared in constant time)."""

    @web.middleware
    async def guard(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]):
        given = (
            request.query.get("token")
            or request.cookies.get("thoughtmill_token")
            or request.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPUnauthorized(text="a token is required (?token=...)")
        response = await handler(request)
        if request.query.get("token"):
            response.set_cookie("thoughtmill_token", token, httponly=True, samesite="Strict")
        return response

    return guard


def _background(run: Callable[[], Awaitable[None]]):
    async def context(_app: web.Application):
        task = asyncio.ensure_future(run())
        yield
        task.cancel()

    return context


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]
