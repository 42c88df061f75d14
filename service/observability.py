"""Prometheus metrics and structured JSON logs with a request id.

Logs carry only the method, the route template, the status, the duration and the request id:
never comment text, never buyer e-mail addresses, never query strings.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from classifier.records import SuggestedVerdict

log = logging.getLogger("feedback_strike.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that hung up before the answer (see Observe)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("feedback_strike")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("feedback_strike_http_requests", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("feedback_strike_http_request_duration_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.verdicts = Counter("feedback_strike_verdicts", "suggested verdicts", ["verdict"], registry=self.registry)
        self.span_labels = Counter("feedback_strike_span_labels", "labels of suggested spans", ["label"],
                                   registry=self.registry)
        self.model = Gauge("feedback_strike_model_info", "the model serving verdicts", ["version"],
                           registry=self.registry)
        self.model_reloads = Counter("feedback_strike_model_reloads", "model reload attempts (admin route or "
                                     "pointer watcher) by outcome: switched, unchanged, refused", ["outcome"],
                                     registry=self.registry)

    def observe_verdicts(self, verdicts: Iterable[SuggestedVerdict]) -> None:
        for v in verdicts:
            self.verdicts.labels(v.verdict).inc()
            for s in v.spans:
                self.span_labels.labels(s.label).inc()

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class Observe:
    """Per request: a request id (the client's ``X-Request-ID`` when it is sane, else a new one) echoed
    in the response, the request counter and latency histogram by route template, and one access log
    line.  Pure ASGI: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``, used before)
    runs every request through an extra task, memory streams and a streaming response wrapper, about
    14% of a worker's CPU under load in a py-spy profile (docs/benchmarks.md).

    The duration runs until the response has been sent.  ``install`` puts this around the whole stack,
    so it also sees the answers sent outside the routes: the 500 with which Starlette's error middleware
    answers a handler that raised (counted and logged as 500, with the request id; the error propagates
    unchanged) and the body limit's 413.

    A client that hangs up before the answer has started (the server's ``receive`` says
    ``http.disconnect``) is counted and logged with status 499, nginx's "client closed request", whatever
    the app does next: nothing it sends reaches the client (uvicorn drops it), and the ``ClientDisconnect``
    that reading the body of a gone client raises is not passed on (uvicorn would log it as an "Exception in
    ASGI application").  A client that hangs up after its request has been read is not seen: uvicorn tells
    the app nothing, drops the answer, and the line has the status the app answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 0  # no answer started yet
        gone = False
        start = time.perf_counter()

        async def watching_receive() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not status:
                gone = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        failed = False  # an error other than the client's hang-up escaped: a 500 whatever the client did
        try:
            await self.app(scope, watching_receive, send_with_id)
        except ClientDisconnect:
            if not gone:
                raise
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - start
            if gone:
                status = 500 if failed else CLIENT_CLOSED_REQUEST
            elif not status:
                status = 500
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info("request", extra={"fields": {"request_id": request_id, "method": method, "route": route,
                                                      "status": status, "duration_ms": round(elapsed * 1000, 2)}})


def install(app: FastAPI) -> Metrics:
    """Observe around the whole middleware stack that Starlette builds.  Added as a user middleware
    (``add_middleware``) it would sit inside Starlette's error middleware and the body limit, and their
    500 and 413 answers would go out without a request id, the 413 without a log line."""
    metrics = Metrics()
    build = app.build_middleware_stack

    def build_observed() -> ASGIApp:
        return Observe(build(), metrics)

    app.build_middleware_stack = build_observed  # type: ignore[method-assign]
    return metrics
