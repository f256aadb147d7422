"""A loopback RTSP server that answers every request with one status (or never answers).

Enough to see how FFmpeg's RTSP client fails: 401, 404, silence. It is not a media server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def _serve_client(conn: socket.socket, status: int | None) -> None:
    buffer = b""
    with conn:
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                request, buffer = buffer.split(b"\r\n\r\n", 1)
                if status is None:
                    continue  # a server that accepted and then hangs
                cseq = b"0"
                for line in request.split(b"\r\n"):
                    if line.lower().startswith(b"cseq:"):
                        cseq = line.split(b":", 1)[1].strip()
                extra = b'WWW-Authenticate: Basic realm="nvr"\r\n' if status == 401 else b""
                conn.sendall(
                    b"RTSP/1.0 %d Stub\r\nCSeq: %s\r\n%sContent-Length: 0\r\n\r\n"
                    % (status, cseq, extra)
                )


@contextmanager
def rtsp_stub(status: int | None) -> Iterator[int]:
    """Run the stub on a free loopback port; yields the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve_client, args=(conn, status), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
