"""MSAL's HTTP session has an overall deadline per request: an answer whose status line and headers (or whose
body) trickle in one byte at a time fails at the deadline, not when the server stops. The per-read timeout
never trips on such a server, so without the deadline these requests would take minutes."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from auditor.sim.tls import TlsMaterial
from auditor.transport.tls import DeadlineExceeded, requests_session, ssl_context

FILLER = 20_000  # bytes trickled at 20 ms each: 400 s if nothing stops it


@contextmanager
def trickling_server(tmp_path: Path, head: bool) -> Iterator[tuple[str, ssl.SSLContext]]:
    """One HTTPS connection answered byte by byte: in the headers (``head``) or in the body."""
    tls = TlsMaterial(tmp_path)
    server_ctx = tls.server_context()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
            tls_conn.recv(65536)  # the request
            if head:
                answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * FILLER + b"\r\nContent-Length: 2\r\n\r\n{}"
            else:
                body = b'{"x":"' + b"a" * FILLER + b'"}'
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            for i in range(len(answer)):
                if stop.is_set():
                    return
                try:
                    tls_conn.sendall(answer[i : i + 1])
                except OSError:
                    return  # the client gave up
                time.sleep(0.02)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}/tenant/oauth2/v2.0/token", ssl_context(str(tls.ca_bundle_path))
    finally:
        stop.set()
        listener.close()
        thread.join(10)


@pytest.mark.parametrize("where", ["headers", "body"])
def test_trickling_answer_fails_at_the_deadline(tmp_path: Path, where: str) -> None:
    with trickling_server(tmp_path, head=where == "headers") as (url, context):
        session = requests_session(context, timeout=30, deadline=1.5)
        box: dict[str, BaseException] = {}

        def call() -> None:
            try:
                session.post(url, data={"grant_type": "client_credentials"})
            except BaseException as exc:
                box["error"] = exc

        started = time.monotonic()
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        caller.join(30)
        assert not caller.is_alive(), "the request is still running after 30 s (no deadline)"
        elapsed = time.monotonic() - started
    assert isinstance(box.get("error"), DeadlineExceeded), box
    assert "1.5 s deadline" in str(box["error"])
    assert elapsed < 6, elapsed
