"""Plain HTTP to recorders: one shared session, digest auth, bounded replies, error kinds.

Why not a vendor SDK: Hikvision's and Dahua's SDKs are native libraries; their HTTP
APIs are documented and what field tools use.  Digest authentication (RFC 7616; MD5 and
SHA-256, ``qop=auth``) is aiohttp's own ``DigestAuthMiddleware``: a maintained
implementation of exactly that, which also reuses a challenge for the next requests
(``nc`` counting up) so a probe of hundreds of requests pays the 401 round trip once.

Every failure leaves this module as a ``DeviceError`` with a kind:

* connect refused / reset / DNS / connect timeout -> ``unreachable``
* no complete answer within the call's budget     -> ``timeout``
* HTTP 401 after the challenge was answered        -> ``auth``
* HTTP 403, 404, 405, 501                          -> ``unsupported`` (an endpoint the
  firmware does not offer: Hikvision answers 403 ``notSupport``, others 404)
* other 4xx, 5xx                                   -> ``device_fault`` (unless the caller
  accepts the status: Dahua's ``findFile`` answers 400 for an empty window)
* body over ``max_response_bytes``, truncated      -> ``malformed``
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from multidict import CIMultiDict
from pydantic import SecretStr
from yarl import URL

from vidaudit.devicehttp.settings import HttpSettings as HttpSettings  # re-exported
from vidaudit.errors import DeviceError

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class CredentialsLike(Protocol):
    @property
    def username(self) -> str: ...

    @property
    def password(self) -> SecretStr: ...


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One request as it went over the wire, for ``vidaudit probe --capture``.

    ``call`` names it the way a capture's replayer serves it: the method and path, and
    for a Dahua CGI its ``action`` (``GET /cgi-bin/magicBox.cgi?action=getSystemInfo``);
    ``request`` is the request line and body (no headers: the digest ``Authorization``
    is never kept); ``reply`` the body as received, None when none came.  ``error`` is
    how the call failed (a status the caller refused included).
    """

    call: str
    request: bytes
    status: int | None
    reply: bytes | None
    error: DeviceError | None


#: Receives every exchange of every device of a pool (see ``HttpPool(recorder=...)``).
HttpRecorder = Callable[[HttpExchange], None]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def call_name(method: str, path: str, params: Mapping[str, str] | None) -> str:
    action = (params or {}).get("action")
    return f"{method} {path}" + (f"?action={action}" if action else "")


class ResponseTooLarge(Exception):
    pass


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read the body, refusing (without holding it) anything over ``limit`` bytes."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise ResponseTooLarge(f"response declares {declared} bytes, limit is {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise ResponseTooLarge(f"response exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def kind_for_status(status: int) -> str:
    if status == 401:
        return "auth"
    if status in (403, 404, 405, 501):
        return "unsupported"
    return "device_fault"


def base_url(url: str) -> str:
    """``http(s)://host[:port]`` of a recorder's API URL; refuses credentials in it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the device URL must not carry credentials")
    parts.port  # noqa: B018 -- validates the port number
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class CertifiedResponse(aiohttp.ClientResponse):
    """A response that knows the sha256 (hex) of the TLS certificate it came over."""

    peer_certificate: str | None = None


class CertificateNotingRequest(aiohttp.ClientRequest):
    """Notes the server's certificate on the response while the connection is in hand.

    Reading it from ``response.connection`` afterwards does not work: aiohttp hands a
    small reply's connection back to the pool as soon as the whole body has arrived,
    usually before the caller sees the response (found by ``tests/onvif/test_onvif_tls.py``,
    the first test over a real TLS handshake: every certificate came out as None).
    ``request_class``/``response_class`` are ``ClientSession``'s own extension points;
    ``send`` is where a request holds its connection."""

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        response = await super().send(conn)
        transport = conn.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if ssl_object is not None and isinstance(response, CertifiedResponse):
            # the peer's certificate whether or not it was verified (NVRs self-sign)
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                response.peer_certificate = hashlib.sha256(der).hexdigest()
        return response


class SessionSettings(Protocol):
    """What ``device_session`` reads (``HttpSettings`` and ``OnvifSettings`` both)."""

    @property
    def max_connections(self) -> int: ...
    @property
    def max_connections_per_host(self) -> int: ...
    @property
    def keepalive_s(self) -> float: ...
    @property
    def verify_tls(self) -> bool: ...


def device_session(settings: SessionSettings) -> aiohttp.ClientSession:
    """The HTTP session a pool of devices shares (ONVIF's and the vendor APIs')."""
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections,
        limit_per_host=settings.max_connections_per_host,
        keepalive_timeout=settings.keepalive_s,
        # NVRs serve self-signed certificates; verification is opt-in.
        ssl=settings.verify_tls,
        ttl_dns_cache=300,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # One session serves every device: never let one device's cookies reach
        # another, and never route device traffic through an environment proxy.
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        # so that each reply carries the TLS certificate it came over (identity pins)
        request_class=CertificateNotingRequest,
        response_class=CertifiedResponse,
    )


class HttpDevice:
    """One recorder for one probe: requests relative to its base URL, under its
    deadline, with its own digest state.  Built by ``HttpPool.open``; owns no sockets."""

    def __init__(
        self,
        url: str,
        credentials: CredentialsLike,
        *,
        session: aiohttp.ClientSession,
        settings: HttpSettings,
        recorder: HttpRecorder | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.base = base_url(url)
        self.settings = settings
        self._session = session
        self._recorder = recorder
        self._clock = clock or _utcnow
        self._secret = credentials.password.get_secret_value()
        self._digest = aiohttp.DigestAuthMiddleware(credentials.username, self._secret)
        loop = asyncio.get_running_loop()
        self._deadline = (
            None if settings.device_deadline_s is None else loop.time() + settings.device_deadline_s
        )
        # NVR web servers serve a few requests at a time; more just queue inside them.
        self.slots = asyncio.Semaphore(settings.max_connections_per_host)
        #: sha256 (hex) of the TLS certificate the recorder presented; None over http
        self.peer_certificate: str | None = None

    def __repr__(self) -> str:
        return f"HttpDevice({self.base!r})"

    def now(self) -> dt.datetime:
        """The caller's UTC clock, which drift is measured against (a replayed capture
        runs on the clock it was taken at)."""
        return self._clock()

    def _budget(self, operation: str) -> float:
        budget = self.settings.call_timeout_s
        if self._deadline is not None:
            left = self._deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise DeviceError(
                    "timeout",
                    f"device deadline of {self.settings.device_deadline_s} s exhausted",
                    operation=operation,
                )
            budget = min(budget, left)
        return budget

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: frozenset[int] = frozenset({200}),
        retry: bool = True,
    ) -> Reply:
        """Send one request; a reply whose status is in ``accept``, else ``DeviceError``.

        ``retry``: resend once when a pooled keep-alive connection turns out dead before
        the device answered (RFC 9112 §9.3.1).  Off for requests that move a cursor on
        the device (Dahua ``findNextFile``), where a resend could skip a page.
        """
        url = _target(self.base + path, params)
        headers = {"Content-Type": content_type} if content_type else None
        try:
            # The call's timeout starts once a slot is ours: waiting behind this device's
            # other requests is our queue, not the device being slow (the device deadline
            # still bounds it).
            async with self.slots:
                reply = await self._send(method, url, body, headers, operation, retry)
        except DeviceError as err:
            scrubbed = err.scrubbed(self._secret)
            self._record(method, path, params, body, None, scrubbed)
            raise scrubbed from None
        error = None
        if reply.status not in accept:
            error = DeviceError(
                kind_for_status(reply.status),  # type: ignore[arg-type]
                f"HTTP {reply.status} from {path}",
                operation=operation,
            )
        self._record(method, path, params, body, reply, error)
        if error is not None:
            raise error
        return reply

    def _record(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        reply: Reply | None,
        error: DeviceError | None,
    ) -> None:
        if self._recorder is None:
            return
        line = f"{method} {_target(path, params)}\r\n\r\n".encode()
        self._recorder(
            HttpExchange(
                call=call_name(method, path, params),
                request=line + (body or b""),
                status=None if reply is None else reply.status,
                reply=None if reply is None else reply.body,
                error=error,
            )
        )

    async def _send(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        headers: dict[str, str] | None,
        operation: str,
        retry: bool,
    ) -> Reply:
        for attempt in (1, 2):
            budget = self._budget(operation)
            limits = aiohttp.ClientTimeout(
                total=budget, sock_connect=self.settings.connect_timeout_s
            )
            try:
                async with asyncio.timeout(budget):
                    return await self._once(method, url, body, headers, limits)
            except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS: no retry
                raise DeviceError(
                    "unreachable", f"{self.base}: {type(exc).__name__}", operation=operation
                ) from exc
            except (
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientConnectionResetError,
                aiohttp.ClientOSError,
            ) as exc:
                if attempt == 2 or not retry:
                    raise DeviceError(
                        "unreachable",
                        f"{self.base} closed the connection ({type(exc).__name__})",
                        operation=operation,
                    ) from exc
                logger.debug("retrying %s after %s", url, type(exc).__name__)
            except ResponseTooLarge as exc:
                raise DeviceError(
                    "malformed", f"{exc} ({self.base})", operation=operation
                ) from None
            except aiohttp.ConnectionTimeoutError as exc:
                raise DeviceError(
                    "unreachable",
                    f"connect to {self.base} timed out after {self.settings.connect_timeout_s} s",
                    operation=operation,
                ) from exc
            except TimeoutError as exc:
                raise DeviceError(
                    "timeout",
                    f"{self.base} did not answer within {budget:.1f} s",
                    operation=operation,
                ) from exc
            except aiohttp.ClientPayloadError as exc:
                raise DeviceError(
                    "malformed",
                    f"truncated or corrupt body from {self.base}",
                    operation=operation,
                ) from exc
            except aiohttp.ClientResponseError as exc:
                raise DeviceError(
                    "malformed",
                    f"invalid HTTP reply from {self.base}: {exc.message}",
                    operation=operation,
                ) from exc
            except aiohttp.ClientError as exc:
                raise DeviceError(
                    "unreachable", f"{self.base}: {type(exc).__name__}", operation=operation
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        headers: dict[str, str] | None,
        limits: aiohttp.ClientTimeout,
    ) -> Reply:
        async with self._session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=limits,
            middlewares=(self._digest,),
            allow_redirects=False,
        ) as response:
            if isinstance(response, CertifiedResponse) and response.peer_certificate:
                self.peer_certificate = response.peer_certificate
            try:
                data = await read_bounded(response, self.settings.max_response_bytes)
            except BaseException:
                # Drop the socket: the rest of the body must not go back into the pool.
                response.close()
                raise
            return Reply(response.status, CIMultiDict(response.headers), data)


def _target(url: str, params: Mapping[str, str] | None) -> URL:
    """The request URL with its query written as Dahua's CGIs are documented:
    ``condition.Types[0]=dav`` with literal brackets, ``2026-11-01%2000:00:00`` (yarl
    would send ``%5B0%5D`` and ``+``, which not every firmware decodes)."""
    if params:
        url += "?" + "&".join(f"{key}={quote(value, safe=':')}" for key, value in params.items())
    return URL(url, encoded=True)


class HttpPool:
    """Shared connections for many recorders: ``async with HttpPool(settings) as pool``
    once per run, then ``async with pool.open(url, credentials) as device`` per probe."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        recorder: HttpRecorder | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """``recorder`` receives every exchange (``vidaudit probe --capture``); ``clock``
        is the caller's UTC clock (default the system's)."""
        self.settings = settings or HttpSettings()
        self._session: aiohttp.ClientSession | None = None
        self._recorder = recorder
        self._clock = clock

    async def __aenter__(self) -> Self:
        self._session = device_session(self.settings)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @contextlib.asynccontextmanager
    async def open(self, url: str, credentials: CredentialsLike) -> AsyncIterator[HttpDevice]:
        if self._session is None:
            raise RuntimeError("HttpPool is not open: use 'async with HttpPool(...)'")
        yield HttpDevice(
            url,
            credentials,
            session=self._session,
            settings=self.settings,
            recorder=self._recorder,
            clock=self._clock,
        )


T = TypeVar("T")

#: Failures of an optional call that leave the device readable.
OPTIONAL_KINDS = frozenset({"unsupported", "malformed", "device_fault"})


async def optional(call: Awaitable[T], name: str, missing: dict[str, str]) -> T | None:
    try:
        return await call
    except DeviceError as err:
        if err.kind not in OPTIONAL_KINDS:
            raise
        logger.debug("optional %s failed: %s", name, err)
        missing[name] = err.kind
        return None


async def gather_all(calls: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``calls`` together; on the first failure cancel the rest and *wait* for them
    (their ``finally`` blocks close device-side sessions such as Dahua finders), then
    raise that failure itself, not an ExceptionGroup."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]
