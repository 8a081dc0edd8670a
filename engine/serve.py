"""HTTP endpoint of a running job: /status (JSON), /metrics (Prometheus text), /healthz."""

from __future__ import annotations

import errno

import msgspec
from aiohttp import web

from engine.errors import UsageError
from engine.metrics import Metrics


def status_app(metrics: Metrics) -> web.Application:
    async def status(_request: web.Request) -> web.Response:
        body = msgspec.json.encode(metrics.snapshot())
        return web.Response(body=body, content_type="application/json")

    async def prometheus(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.prometheus(), content_type="text/plain", charset="utf-8")

    async def healthz(_request: web.Request) -> web.Response:
        healthy = metrics.state not in ("failed",)
        return web.Response(text=metrics.state, status=200 if healthy else 503)

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/healthz", healthz)
    return app


async def start_status_server(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve the endpoints; a port that cannot be bound is a usage error naming it."""
    runner = web.AppRunner(status_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound: {error}"
        raise UsageError(f"serve: port {port} on {host} {reason} (choose another --port)") from None
    return runner
