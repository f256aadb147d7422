"""Real receivers on loopback for the alerts' tests: an HTTP server that records every
request (a WeCom / DingTalk robot or a webhook stand-in, answering as the robots do), an
SMTP server (aiosmtpd) with STARTTLS and AUTH, and an independent check of DingTalk's
signature (OpenSSL's command line computes the HMAC, not Python's hmac)."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

OK = (200, {"errcode": 0, "errmsg": "ok"})


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records every POST; answers with queued replies, then ``OK``; ``delay_s`` makes
    it slow (for timeouts); ``hold()`` keeps every request waiting, unanswered and not
    yet in ``requests``, until ``release()`` (``arrived`` counts them as they come)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: deque[tuple[int, Any]] = deque()
        self.delay_s = 0.0
        self.arrived = 0
        self._open = threading.Event()
        self._open.set()
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parsed = urllib.parse.urlsplit(self.path)
                request = Request(
                    parsed.path,
                    urllib.parse.parse_qs(parsed.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with receiver._changed:
                    receiver.arrived += 1
                    receiver._changed.notify_all()
                receiver._open.wait(timeout=120)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._changed:
                    status, reply = receiver.replies.popleft() if receiver.replies else OK
                    receiver.requests.append(request)
                    receiver._changed.notify_all()
                data = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Request]:
        with self._changed:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Request]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.on_locked(path)) >= count, timeout)
            return self.on_locked(path)

    def on_locked(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_arrived(self, count: int, timeout: float = 20.0) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.arrived >= count, timeout)
            return self.arrived

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()  # a held handler must not outlive the test
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def openssl_hmac_base64(key: str, message: str) -> str:
    """HMAC-SHA256 by OpenSSL's command line (Debian's ``openssl``), base64."""
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", key, "-binary"],
        input=message.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return base64.b64encode(digest).decode()


def dingtalk_signature_ok(request: Request, secret: str, now_ms: int | None = None) -> bool:
    """DingTalk's server-side check, as its documentation states it: the timestamp is
    within an hour of now and ``sign`` is base64(HMAC-SHA256(secret, ts + "\\n" + secret))."""
    (timestamp,) = request.query["timestamp"]
    (sign,) = request.query["sign"]  # parse_qs has already URL-decoded it
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now - int(timestamp)) > 3600 * 1000:
        return False
    return sign == openssl_hmac_base64(secret, f"{timestamp}\n{secret}")


# --- SMTP -----------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), made by OpenSSL's command line."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class _Handler:
    mails: list[Mail] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.changed:
            self.mails.append(
                Mail(envelope.mail_from, list(envelope.rcpt_tos), message, login)  # type: ignore[arg-type]
            )
            self.changed.notify_all()
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's controller on an ephemeral port: it reads the port it was given."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailReceiver:
    """An SMTP server on 127.0.0.1 that requires STARTTLS and AUTH (LOGIN/PLAIN)."""

    def __init__(
        self, tmp: Path, username: str = "vidaudit", password: str = "smtp-pw-9c1"
    ) -> None:
        import ssl

        self.cert, key = self_signed(tmp)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.handler = _Handler()
        self.username, self.password = username, password

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == self.username
                and auth_data.password.decode() == self.password
            )
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        self.controller = _Controller(
            self.handler,
            hostname="127.0.0.1",
            port=0,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
            auth_required=True,
            authenticator=authenticate,
        )

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def mails(self) -> list[Mail]:
        with self.handler.changed:
            return list(self.handler.mails)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Mail]:
        with self.handler.changed:
            self.handler.changed.wait_for(lambda: len(self.handler.mails) >= count, timeout)
            return list(self.handler.mails)

    def __enter__(self) -> MailReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
