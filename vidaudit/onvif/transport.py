"""The HTTP leg of every SOAP call: shared connections, bounded reads, error kinds.

Why our own transport: onvif-zeep-async's ``ONVIFService`` builds one aiohttp
``ClientSession`` + ``TCPConnector`` per service per camera, with 90 s timeouts and no
size limit; there is no argument to hand it a shared session.  zeep, however, only needs
an object with ``post_xml(address, envelope, headers)`` returning something with
``status_code``/``content``/``headers``/``encoding`` -- so each device gets a
``BoundedTransport`` (a few attributes, no sockets) that posts through the *pool's* one
``ClientSession``.  Connections are pooled per host by aiohttp's connector and shared by
all devices; closing the pool closes every socket.

Every failure leaves this module as a ``DeviceError`` with a kind; the reply zeep
receives has already been checked by ``xmlsafety.check_reply`` (well-formed, no DTD,
expected ``<Operation>Response``, no SOAP Fault).  The reply also carries that checked
tree (``HttpReply.payload``): the paged search operations are read from it directly,
with zeep only building their requests (``Device._call(raw=True)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from vidaudit.devicehttp.client import CertifiedResponse, ResponseTooLarge, read_bounded
from vidaudit.onvif.errors import DeviceError, kind_for_fault, kind_for_status
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.xmlsafety import (
    UnsafeXml,
    check_reply,
    local_name,
    request_element,
    serialize,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """The subset of ``requests.Response`` zeep's SOAP binding reads, plus our parse."""

    status_code: int
    content: bytes
    headers: CIMultiDict[str]
    encoding: str | None
    #: The SOAP Body's first element from ``check_reply`` (lxml; never a Fault).
    payload: Any = None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One SOAP call as it went over the wire, for ``vidaudit probe --capture``.

    ``request`` is the envelope exactly as sent (WS-Security header included: whoever
    keeps it must redact it); ``reply`` the body exactly as received, None when none
    came (refused connection, timeout).  ``error`` is how the transport classified the
    call when it failed there; a reply that fails later (zeep, our readers) is the
    caller's to note.
    """

    address: str
    operation: str | None
    request: bytes
    status: int | None
    reply: bytes | None
    error: DeviceError | None


#: Receives every exchange of a device (see ``OnvifPool(recorder=...)``).
Recorder = Callable[[Exchange], None]


def _operation_of(element: str | None) -> str | None:
    return None if element is None else local_name(element)


class BoundedTransport:
    """A zeep async transport bound to one device, posting through a shared session.

    Duck-typed rather than subclassing ``zeep.transports.AsyncTransport``: that class
    builds an httpx client in its constructor, which is exactly the per-device cost we
    avoid.  zeep's async SOAP binding calls only ``post_xml``.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: OnvifSettings,
        *,
        middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = (),
        recorder: Recorder | None = None,
    ) -> None:
        self._session = session
        self._recorder = recorder
        self._settings = settings
        self._middlewares = middlewares
        #: sha256 (hex) of the TLS certificate the device last presented; None over http
        self.peer_certificate: str | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=settings.call_timeout_s,
            sock_connect=settings.connect_timeout_s,
            sock_read=settings.call_timeout_s,
        )
        # zeep's Transport API carries a WSDL cache attribute; documents come from the
        # process-wide cache in ``zeepclient``, never through a device transport.
        self.cache = None

    def load(self, url: str) -> bytes:
        # Never fetch schemas from a device (SSRF / slow WSDL downloads): the bundled
        # WSDLs are complete.
        raise DeviceError("malformed", f"refused to load external document {url}")

    async def aclose(self) -> None:
        """The session belongs to the pool; nothing to close per device."""

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> HttpReply:
        expected = request_element(envelope)
        operation = _operation_of(expected)
        message = serialize(envelope)
        if self._recorder is None:
            status, reply_headers, body = await self._post(address, message, headers, operation)
        else:
            status, reply_headers, body = await self._post_recorded(
                address, message, headers, operation
            )
        try:
            checked = check_reply(body)
        except UnsafeXml as exc:
            if status != 200:
                raise DeviceError(
                    kind_for_status(status), f"HTTP {status} from {address}", operation=operation
                ) from None
            raise DeviceError("malformed", f"{exc} from {address}", operation=operation) from None
        if checked.fault is not None:
            fault = checked.fault
            raise DeviceError(
                kind_for_fault(fault.subcodes, status),
                f"SOAP fault {'/'.join(fault.subcodes) or fault.code}: {fault.reason} "
                f"(HTTP {status})",
                operation=operation,
            )
        if status != 200:
            raise DeviceError(
                kind_for_status(status), f"HTTP {status} from {address}", operation=operation
            )
        if (
            self._settings.strict_response_element
            and expected is not None
            and checked.body_element != expected + "Response"
        ):
            raise DeviceError(
                "malformed",
                f"reply element {checked.body_element}, expected {expected}Response",
                operation=operation,
            )
        return HttpReply(
            status_code=status,
            content=body,
            headers=reply_headers,
            encoding=None,
            payload=checked.payload,
        )

    async def _post_recorded(
        self, address: str, message: bytes, headers: dict[str, str], operation: str | None
    ) -> tuple[int, CIMultiDict[str], bytes]:
        """``_post``, handing the exchange to the recorder however it ends (a cancelled
        call -- the caller's timeout -- is recorded as a timeout without a reply)."""
        assert self._recorder is not None
        error: DeviceError | None = DeviceError("timeout", "no reply", operation=operation)
        status: int | None = None
        body: bytes | None = None
        try:
            status, reply_headers, body = await self._post(address, message, headers, operation)
            error = None
            return status, reply_headers, body
        except DeviceError as exc:
            error = exc
            raise
        finally:
            self._recorder(Exchange(address, operation, message, status, body, error))

    async def _post(
        self, address: str, message: bytes, headers: dict[str, str], operation: str | None
    ) -> tuple[int, CIMultiDict[str], bytes]:
        # One retry when a pooled keep-alive connection turns out to be dead before the
        # device answered (RFC 9112 §9.3.1 lets the device close idle connections at any
        # time; many cameras close after every reply without saying "Connection: close").
        # Our calls are reads and search set-ups, so resending is safe.
        for attempt in (1, 2):
            try:
                return await self._post_once(address, message, headers)
            except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS: no retry
                raise DeviceError(
                    "unreachable", f"{address}: {type(exc).__name__}: {exc}", operation=operation
                ) from exc
            except (
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientConnectionResetError,
                aiohttp.ClientOSError,  # "Can not write request body" on a stale socket
            ) as exc:
                if attempt == 2:
                    raise DeviceError(
                        "unreachable",
                        f"{address} closed the connection ({type(exc).__name__})",
                        operation=operation,
                    ) from exc
                logger.debug("retrying %s after %s", address, type(exc).__name__)
            except ResponseTooLarge as exc:
                raise DeviceError("malformed", f"{exc} ({address})", operation=operation) from None
            except aiohttp.ConnectionTimeoutError as exc:
                raise DeviceError(
                    "unreachable",
                    f"connect to {address} timed out after {self._settings.connect_timeout_s} s",
                    operation=operation,
                ) from exc
            except TimeoutError as exc:  # aiohttp's total / sock_read budget
                raise DeviceError(
                    "timeout",
                    f"{address} did not answer within {self._settings.call_timeout_s} s",
                    operation=operation,
                ) from exc
            except aiohttp.ClientPayloadError as exc:
                raise DeviceError(
                    "malformed",
                    f"truncated or corrupt body from {address}: {exc}",
                    operation=operation,
                ) from exc
            except aiohttp.ClientResponseError as exc:
                raise DeviceError(
                    "malformed",
                    f"invalid HTTP reply from {address}: {exc.message}",
                    operation=operation,
                ) from exc
            except aiohttp.InvalidURL as exc:
                raise DeviceError(
                    "malformed", f"device gave an invalid address {address!r}", operation=operation
                ) from exc
            except aiohttp.ClientError as exc:
                # Any other client-side connection failure (e.g. fingerprint mismatch).
                raise DeviceError(
                    "unreachable", f"{address}: {type(exc).__name__}: {exc}", operation=operation
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_certificate(self, response: aiohttp.ClientResponse) -> None:
        # Which certificate answered, whether or not it is verified: pinned with the
        # serial number so a different box at the same address is noticed.
        if isinstance(response, CertifiedResponse) and response.peer_certificate:
            self.peer_certificate = response.peer_certificate

    async def _post_once(
        self, address: str, message: bytes, headers: dict[str, str]
    ) -> tuple[int, CIMultiDict[str], bytes]:
        async with self._session.post(
            address,
            data=message,
            headers=headers,
            timeout=self._timeout,
            middlewares=self._middlewares,
            allow_redirects=False,
        ) as response:
            self._note_certificate(response)
            try:
                body = await read_bounded(response, self._settings.max_response_bytes)
            except BaseException:
                # Drop the socket (oversized, timed out, cancelled): the rest of the body
                # must not be read back into the pool.
                response.close()
                raise
            return response.status, CIMultiDict(response.headers), body
