"""The client factory: one ``OnvifPool`` per process run, one ``Device`` per probe.

``OnvifPool`` owns what devices share: one aiohttp ``ClientSession`` over one
``TCPConnector`` (connections pooled per host, keep-alive), the lock that serialises
first loads of the process-wide WSDL documents, and the settings.  ``OnvifPool.open``
hands out a ``Device`` bound to that session; a Device owns no sockets, so opening one
costs a few small objects (~0.1 ms), not a session and a connector per service as
``onvif.ONVIFCamera`` does.  Closing the pool closes every socket, on every path.

Tests and the collector patch/replace this one factory (``open_device``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import SecretStr

from vidaudit.devicehttp.client import device_session
from vidaudit.onvif.device import Device
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.transport import Recorder


class CredentialsLike(Protocol):
    """What a login must offer (``vidaudit.inventory.schema.Credentials`` fits)."""

    @property
    def username(self) -> str: ...

    @property
    def password(self) -> SecretStr: ...


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """Where a device's ONVIF device service lives."""

    url: str

    @classmethod
    def parse(cls, url: str) -> DeviceTarget:
        """Validate a device-service URL (``http(s)://host[:port]/onvif/device_service``).

        A URL with ``user:password@`` is refused: credentials travel separately, so
        they can never end up in a message or a log line that echoes the address.
        """
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http(s) device-service URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the device URL must not carry credentials")
        try:
            parts.port  # noqa: B018 -- validates the port number
        except ValueError as exc:
            raise ValueError(f"invalid port in device URL: {exc}") from None
        path = parts.path or "/onvif/device_service"
        return cls(urlunsplit((parts.scheme, parts.netloc, path, parts.query, "")))

    @classmethod
    def from_host(
        cls, host: str, port: int = 80, *, https: bool = False, path: str = "/onvif/device_service"
    ) -> DeviceTarget:
        bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return cls.parse(f"{'https' if https else 'http'}://{bracketed}:{port}{path}")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def __str__(self) -> str:
        return self.url


def as_target(target: DeviceTarget | str) -> DeviceTarget:
    return target if isinstance(target, DeviceTarget) else DeviceTarget.parse(target)


class OnvifPool:
    """Shared connections and WSDL documents for many devices.

    ``async with OnvifPool(settings) as pool:`` then ``async with pool.open(target,
    credentials) as device:`` per device, concurrently.  Keep the caller's concurrency
    at or below ``settings.max_connections``: a call waiting for a free connection
    spends its own ``call_timeout_s``.
    """

    def __init__(
        self,
        settings: OnvifSettings | None = None,
        *,
        recorder: Recorder | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """``recorder`` receives every SOAP exchange of every device (``vidaudit probe
        --capture``); ``clock`` is the caller's UTC clock (default the system's), which
        drift is measured against (a replayed capture runs on the clock it was taken at).
        """
        # No I/O and no event loop needed here; the session is made on entry.
        self.settings = settings or OnvifSettings()
        self._recorder = recorder
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._document_lock: asyncio.Lock | None = None

    async def __aenter__(self) -> Self:
        self._session = device_session(self.settings)
        self._document_lock = asyncio.Lock()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()  # closes the connector and every pooled socket

    @contextlib.asynccontextmanager
    async def open(
        self, target: DeviceTarget | str, credentials: CredentialsLike
    ) -> AsyncIterator[Device]:
        """A ``Device`` for one probe; its calls share ``settings.device_deadline_s``."""
        if self._session is None or self._document_lock is None:
            raise RuntimeError("OnvifPool is not open: use 'async with OnvifPool(...)'")
        device = Device(
            as_target(target).url,
            credentials.username,
            credentials.password,
            session=self._session,
            settings=self.settings,
            document_lock=self._document_lock,
            recorder=self._recorder,
            clock=self._clock,
        )
        try:
            yield device
        finally:
            device.close()


@contextlib.asynccontextmanager
async def open_device(
    target: DeviceTarget | str,
    credentials: CredentialsLike,
    settings: OnvifSettings | None = None,
    *,
    pool: OnvifPool | None = None,
) -> AsyncIterator[Device]:
    """Open one device: through ``pool`` if given (then ``settings`` is ignored: the
    pool's apply), else through a private pool that is closed (with its session) when the
    block ends, however it ends.
    """
    if pool is not None:
        async with pool.open(target, credentials) as device:
            yield device
        return
    async with OnvifPool(settings) as private, private.open(target, credentials) as device:
        yield device
