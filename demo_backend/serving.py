"""Serving the app: the hardened waitress server ``make demo`` uses, and a test helper.

Waitress reads each request (headers and body) in its I/O thread and hands
only complete requests to a fixed pool of worker threads, so idle or
trickling connections never hold a thread. It closes connections idle for
``SERVER_IDLE_TIMEOUT_S`` and caps open connections, header size and body
size. It has no total deadline for receiving a request (its timeout is one
of inactivity, which a client sending a byte a second never trips), so
:class:`GuardedChannel` adds one: a request not fully received
``SERVER_REQUEST_TIMEOUT_S`` after its first byte gets ``408`` and the
connection is closed. Errors waitress answers itself (400, 408, 413, 431,
501) are JSON like the app's.

Graceful stop (:meth:`GuardedServer.serve`): after :meth:`GuardedServer.request_stop`
(the SIGTERM/SIGINT handler of ``python -m demo_backend``) the app's
``/health/ready`` answers 503 at once, the listening socket is closed (new
connections are refused), every response carries ``Connection: close``, and
the server exits once no request is in flight, or cuts what is left after
``DRAIN_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import Error
from werkzeug.serving import make_server

from . import lifecycle

SOCKET_KEY = "waitress.socket"
CLOSE_KEY = "demo_backend.close_on_finish"
IDENT = "resilient-fetch-demo"

# waitress's reasons, as the app's error codes (the app says request_too_large).
_CODES = {413: "request_too_large", 431: "request_header_fields_too_large"}


class RequestTimeout(Error):
    """The request was not fully received within the total deadline."""

    code = 408
    reason = "Request Timeout"


def _json_error(error: Error) -> tuple[str, list[tuple[str, str]], bytes]:
    code = _CODES.get(error.code) or error.reason.lower().replace(" ", "_")
    body = json.dumps(
        {"error": code, "message": str(error.body), "layer": "server"}, separators=(",", ":")
    ).encode()
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    return f"{error.code} {error.reason}", headers, body


class JSONErrorTask(ErrorTask):
    """waitress's own error responses (bad request line, 413, 431, ...) as JSON."""

    def execute(self) -> None:
        status, headers, body = _json_error(self.request.error)
        self.status = status
        self.response_headers.extend(headers)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class SocketTask(WSGITask):
    """Puts the client socket in the environ, so ``reset`` and ``hang`` can drop it."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[SOCKET_KEY] = self.channel.socket
        environ[CLOSE_KEY] = self.set_close_on_finish
        return environ

    def build_response_header(self) -> bytes:
        # While draining, each connection carries one last response, so
        # keep-alive clients reconnect (and are refused) instead of staying.
        if getattr(self.channel.server, "stopping", False):
            self.set_close_on_finish()
        header: bytes = super().build_response_header()
        return header


def without_hop_by_hop(app: Any) -> Any:
    """PEP 3333 forbids ``Connection`` from an app; ``close`` becomes waitress's close-on-finish."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        def checked(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() != "connection"]
            if len(kept) != len(headers) and CLOSE_KEY in environ:
                environ[CLOSE_KEY]()
            return start_response(status, kept, exc_info)

        return app(environ, checked)

    return wsgi


class StrictParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, but a URI ``urlsplit`` refuses (``http://[::1/x``) is a 400.

    waitress only catches its own ParsingError there: the ValueError escaped,
    the connection closed without an answer and a traceback went to the log.
    """

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ValueError as exc:
            raise ParsingError(f"Bad URI: {exc}") from None


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """An HTTP channel that remembers when the request being received started."""

    task_class = SocketTask
    error_task_class = JSONErrorTask
    parser_class = StrictParser
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        before = self.request
        result: bool = super().received(data)
        if self.request is None:
            self.request_started = None
        elif self.request is not before or self.request_started is None:
            self.request_started = time.monotonic()
        return result

    def overdue(self, now: float, limit_s: float) -> bool:
        """A request is partly received and its first byte came more than ``limit_s`` ago."""
        started = self.request_started
        return (
            self.request is not None
            and started is not None
            and not self.requests
            and now - started > limit_s
        )

    def time_out(self) -> None:
        """Answer 408 and close (I/O thread; no request of this channel is running)."""
        status, headers, body = _json_error(RequestTimeout("the request was not received in time"))
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        payload = head.encode("latin-1") + body
        with self.outbuf_lock:
            self.outbufs[-1].append(payload)
            self.current_outbuf_count += len(payload)
            self.total_outbufs_len += len(payload)
        self.request = None
        self.request_started = None
        self.close_when_flushed = True


# How often the serving loop looks at the stop flag (a signal does not end poll()).
LOOP_S = 0.2


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class GuardedServer(TcpWSGIServer):  # type: ignore[misc]
    """waitress's server with :class:`GuardedChannel`, the total request deadline and a drain."""

    channel_class = GuardedChannel
    # Set from a signal handler: plain attributes, read by the serving loop.
    stop_requested_at: float | None = None
    stop_now = False

    def __init__(
        self,
        application: Any,
        *,
        idle_timeout_s: float,
        request_timeout_s: float,
        drain_timeout_s: float = 30.0,
        on_drain: Any = None,
        **kw: Any,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.on_drain = on_drain
        # waitress takes whole seconds; maintenance() below applies the exact values.
        kw["channel_timeout"] = max(1, math.ceil(idle_timeout_s))
        super().__init__(without_hop_by_hop(application), map={}, adj=Adjustments(**kw))

    def maintenance(self, now: float) -> None:
        idle_cutoff = now - self.idle_timeout_s  # waitress's clock: time.time()
        mono = time.monotonic()
        for channel in list(self.active_channels.values()):
            if not isinstance(channel, GuardedChannel) or channel.requests:
                continue  # a request is being answered: the app's own bounds apply
            idle = channel.last_activity < idle_cutoff
            partial = channel.request is not None and channel.request_started is not None
            if partial and (idle or channel.overdue(mono, self.request_timeout_s)):
                channel.time_out()  # 408, as nginx's client_header/body_timeout
            elif idle:
                channel.will_close = True

    @property
    def stopping(self) -> bool:
        """A stop was asked for: answer what is in flight, take nothing new."""
        return self.stop_requested_at is not None

    def request_stop(self) -> None:
        """Begin the drain; asked a second time, cut it short. Safe in a signal handler."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            if self.on_drain is not None:
                self.on_drain()
        else:
            self.stop_now = True

    def busy_channels(self) -> list[HTTPChannel]:
        """Connections with a request being received, queued, answered or still being sent."""
        return [
            c
            for c in list(self._map.values())
            if isinstance(c, HTTPChannel)
            and (c.requests or c.request is not None or c.total_outbufs_len)
        ]

    def serve(self, say: Any = _say) -> int:
        """Serve until :meth:`request_stop`, then drain; the number of requests cut (0: clean)."""
        while self.stop_requested_at is None:
            wasyncore.loop(timeout=LOOP_S, map=self._map, use_poll=True, count=1)
        # Close the listening socket only (BaseWSGIServer.close would also close
        # the trigger that wakes this loop when a worker thread has output).
        self.accepting = False
        wasyncore.dispatcher.close(self)
        deadline = self.stop_requested_at + self.drain_timeout_s
        say(f"draining: {len(self.busy_channels())} request(s) in flight, new connections refused")
        cut = 0
        while busy := self.busy_channels():
            if self.stop_now or time.monotonic() >= deadline:
                cut = len(busy)
                why = "a second signal" if self.stop_now else f"{self.drain_timeout_s:g} s"
                say(f"drain cut short after {why}: closing {cut} connection(s) mid-request")
                break
            # The listener no longer runs maintenance(): the idle and request deadlines still apply.
            self.maintenance(time.time())
            wasyncore.loop(timeout=LOOP_S, map=self._map, use_poll=True, count=1)
        for dispatcher in list(self._map.values()):
            dispatcher.close()
        # After a cut, threads still running a request are daemons: do not wait for them.
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=0 if cut else 1)
        if not cut:
            say("drained: every request in flight was answered")
        return cut


def serve_until_stopped(server: GuardedServer) -> int:
    """Serve with SIGTERM/SIGINT starting the drain (a second one cuts it); 0 clean, 1 cut."""
    previous = {
        sig: signal.signal(sig, lambda *_: server.request_stop())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        cut = server.serve()
    except BaseException:
        server.task_dispatcher.shutdown(timeout=1)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if cut else 0


def server_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """waitress adjustments from the app's ``SERVER_*`` settings."""
    return {
        "threads": int(config["SERVER_THREADS"]),
        "connection_limit": int(config["SERVER_CONNECTION_LIMIT"]),
        "idle_timeout_s": float(config["SERVER_IDLE_TIMEOUT_S"]),
        "request_timeout_s": float(config["SERVER_REQUEST_TIMEOUT_S"]),
        "drain_timeout_s": float(config["DRAIN_TIMEOUT_S"]),
        # Timeouts are checked on every turn of the I/O loop (at most 1 s apart).
        "cleanup_interval": 0,
        "max_request_header_size": int(config["SERVER_MAX_HEADER_BYTES"]),
        "max_request_body_size": int(config["MAX_CONTENT_LENGTH"]),
        "ident": IDENT,
        # poll(), not select(): more than 1024 descriptors may be open.
        "asyncore_use_poll": True,
        # The admin guard must see proxy headers to refuse proxied callers.
        "clear_untrusted_proxy_headers": False,
        "expose_tracebacks": False,
        "log_socket_errors": False,
    }


def make_guarded_server(app: Flask, host: str, port: int) -> GuardedServer:
    """The server ``python -m demo_backend`` runs, bound but not yet serving."""
    return GuardedServer(
        app,
        host=host,
        port=port,
        on_drain=lifecycle.of(app).start_draining,
        **server_settings(app.config),
    )


@contextmanager
def serve_in_thread(
    app: Flask, host: str = "127.0.0.1", *, server: str = "werkzeug"
) -> Iterator[str]:
    """Yield the base URL (no trailing slash) of ``app`` served on a free port.

    ``server="waitress"`` runs the hardened server ``make demo`` uses;
    the default is werkzeug's threaded development server.
    """
    if server == "waitress":
        guarded = make_guarded_server(app, host, 0)
        stop = threading.Event()

        def loop() -> None:
            # The serving thread owns every socket: it polls until asked to stop,
            # then closes them itself (waitress's run() only ends on an empty map).
            while not stop.is_set():
                wasyncore.loop(timeout=0.05, map=guarded._map, use_poll=True, count=1)
            for dispatcher in list(guarded._map.values()):
                dispatcher.close()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{guarded.effective_port}"
        finally:
            stop.set()
            thread.join(timeout=5)
            guarded.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        return
    dev = make_server(host, 0, app, threaded=True)
    # A short poll interval makes shutdown() quick.
    dev_thread = threading.Thread(target=dev.serve_forever, args=(0.05,), daemon=True)
    dev_thread.start()
    try:
        yield f"http://{host}:{dev.server_port}"
    finally:
        dev.shutdown()
        dev_thread.join(timeout=5)
