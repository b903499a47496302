"""The server ``make demo`` runs (waitress + the total-deadline guard), on 127.0.0.1.

Short timeouts keep every test to a few seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from demo_backend import create_app
from demo_backend.serving import serve_in_thread

IDLE_S = 0.6
DEADLINE_S = 1.0


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    app = create_app(
        {
            "TESTING": True,
            "FAULTS": True,
            "HANG_MAX_S": 1.0,
            "ACCESS_LOG": False,
            "SERVER_IDLE_TIMEOUT_S": IDLE_S,
            "SERVER_REQUEST_TIMEOUT_S": DEADLINE_S,
            "SERVER_THREADS": 4,
            "SERVER_MAX_HEADER_BYTES": 8192,
        }
    )
    with serve_in_thread(app, server="waitress") as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def url(server: tuple[str, int], path: str) -> str:
    return f"http://{server[0]}:{server[1]}{path}"


def connect(server: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(server, timeout=timeout)
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_idle_connections_are_closed(server: tuple[str, int]) -> None:
    sock = connect(server)
    started = time.monotonic()
    assert read_all(sock) == b""  # closed by the server, no response
    assert IDLE_S - 0.1 <= time.monotonic() - started < IDLE_S + 1.5


def test_keep_alive_connection_is_closed_when_idle(server: tuple[str, int]) -> None:
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while b'"ok"' not in first:
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert read_all(sock) == b""
    assert time.monotonic() - started < IDLE_S + 1.5


def test_a_trickling_request_gets_408_at_the_total_deadline(server: tuple[str, int]) -> None:
    # A byte every 0.1 s never trips an inactivity timeout; the total deadline stops it.
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(b"GET /health HTTP/1.1\r\n")
    try:
        for _ in range(40):
            sock.sendall(b"X")
            time.sleep(0.1)
    except OSError:
        pass  # the server closed it
    elapsed = time.monotonic() - started
    data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b'"error":"request_timeout"' in data and b"application/json" in data
    assert DEADLINE_S - 0.1 <= elapsed < DEADLINE_S + 2.0


def test_a_body_shorter_than_its_content_length_gets_408(server: tuple[str, int]) -> None:
    # Idle (IDLE_S) before the deadline: a stalled partial request gets a 408 too.
    sock = connect(server)
    started = time.monotonic()
    sock.sendall(
        b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"name":'
    )
    data = read_all(sock)
    assert data.startswith(b"HTTP/1.1 408")
    assert IDLE_S - 0.1 <= time.monotonic() - started < IDLE_S + 1.0


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"GARBAGE\r\n\r\n", b"400", b"bad_request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", b"431", None),
        (
            b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
            b"413",
            b"request_too_large",
        ),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400", None),
        # urlsplit() raises on it: waitress dropped the connection with a traceback.
        (b"GET http://[::1/x HTTP/1.1\r\nHost: x\r\n\r\n", b"400", b"bad_request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", b"501", None),
    ],
)
def test_errors_below_flask_are_json(
    server: tuple[str, int], raw: bytes, status: bytes, code: bytes | None
) -> None:
    sock = connect(server)
    sock.sendall(raw)
    data = read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status, data[:300]
    assert b"Content-Type: application/json" in head
    assert body.startswith(b"{") and (code is None or code in body)


def test_keeps_answering_with_200_idle_and_trickling_connections(server: tuple[str, int]) -> None:
    before = threading.active_count()
    socks: list[socket.socket] = []
    try:
        for i in range(200):
            sock = connect(server)
            if i % 2:  # half send a partial request line, half send nothing
                sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
            socks.append(sock)
        # Threads do not grow with connections: waitress's pool is fixed.
        assert threading.active_count() - before <= 2
        for _ in range(10):
            started = time.monotonic()
            resp = requests.get(url(server, "/health"), timeout=2)
            assert resp.status_code == 200
            assert time.monotonic() - started < 0.5
        for sock in socks[1::2]:  # keep trickling: the deadline still ends them
            sock.sendall(b"x")
    finally:
        for sock in socks:
            sock.close()


def test_hang_and_reset_faults_work_under_waitress(server: tuple[str, int]) -> None:
    requests.post(url(server, "/_faults"), json={"type": "reset", "match": "/r"}, timeout=2)
    requests.post(url(server, "/_faults"), json={"type": "hang", "match": "/h"}, timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(url(server, "/r"), timeout=2)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(url(server, "/h"), timeout=5)
    assert 0.9 <= time.monotonic() - started < 3  # HANG_MAX_S, then dropped
    assert requests.get(url(server, "/health"), timeout=2).status_code == 200
    stats: dict[str, Any] = requests.get(url(server, "/_stats"), timeout=2).json()
    assert stats["routes"]["GET <unmatched>"] == {"dropped": 2}


def test_down_fault_closes_the_connection_under_waitress(server: tuple[str, int]) -> None:
    requests.post(url(server, "/_faults"), json={"type": "down", "match": "/health"}, timeout=2)
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_all(sock)  # ends: the server closed the connection after the 503
    assert data.startswith(b"HTTP/1.1 503") and b"Connection: close" in data
