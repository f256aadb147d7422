"""``DahuaDevice``: the Dahua HTTP API calls the daily check needs.

Recorded files are found with ``mediaFileFind.cgi``: ``factory.create`` -> ``findFile``
(channel, start, end, ``Types[0]=dav``) -> ``findNextFile&count=100`` until ``found=0``
-> ``close`` and ``destroy``.  The finder is a session on the device: it is destroyed on
every path, errors included, or the recorder runs out of them.  Within
``DahuaDevice.finders()`` (one read of a recorder) a finder is reused for the next
search after ``close`` and destroyed once at the end: 3 requests a search instead of 5
(see ``FinderPool`` for the source).  Some firmware answers
``findFile`` with HTTP 400 when nothing is recorded in the window: that means no files,
not a fault.  NVR channels are 1-based.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from vidaudit.dahua import parse
from vidaudit.devicehttp.client import HttpDevice, optional
from vidaudit.errors import DeviceError
from vidaudit.readings import DeviceClock, DeviceInfo, Disk

logger = logging.getLogger(__name__)

FIND = "/cgi-bin/mediaFileFind.cgi"
PAGE_SIZE = 100
#: Pages followed before a finder is declared stuck.
MAX_PAGES = 1000


class FinderPool:
    """The media-file finders of one read of a recorder, reused search after search.

    Reuse is what a public client run against a fleet of real Dahua NVRs does:
    github.com/Maor-Zohar/netikot-proj ``devices.py`` (``DahuaDevice.check_nvr``,
    commit 77fc929) creates one finder per recorder, runs ``findFile`` /
    ``findNextFile`` / ``close`` on it for camera after camera, and sends ``destroy``
    once at the end.  The finders other clients show (python-amcrest ``find_files``,
    ipcmanview ``mediafilefind.NewStream``) are one per search and say nothing against
    reuse.  No source shows one ``findFile`` covering several channels: every client
    seen sends a single ``condition.Channel`` (python-amcrest ``media_file_find_start``,
    ipcmanview's ``Condition.Channel int``), so each channel is still its own search.

    A finder holds a cursor, so a search has one to itself; at most ``size`` exist at
    once (the device's request slots: more searches would only queue), created as
    searches need them.  A finder whose search failed is not lent again, only
    destroyed.
    """

    def __init__(self, dev: DahuaDevice, size: int) -> None:
        self._dev = dev
        self._free = asyncio.Semaphore(size)
        self._idle: list[str] = []
        self._made: list[str] = []

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[str]:
        async with self._free:
            handle = self._idle.pop() if self._idle else await self._create()
            yield handle  # on an error the handle stays out of _idle: destroyed at the end
            self._idle.append(handle)

    async def _create(self) -> str:
        handle = await self._dev.create_finder()
        self._made.append(handle)
        return handle

    async def destroy_all(self) -> None:
        made, self._made, self._idle = self._made, [], []
        for handle in made:
            await self._dev.release(handle, ("destroy",))


class DahuaDevice:
    def __init__(self, http: HttpDevice, zone: dt.tzinfo) -> None:
        self.http = http
        #: The branch's zone: Dahua times carry no offset.
        self.zone = zone
        self._pool: FinderPool | None = None

    def __repr__(self) -> str:
        return f"DahuaDevice({self.http.base!r})"

    async def _get(
        self, cgi: str, params: dict[str, str], operation: str, *, retry: bool = True
    ) -> bytes:
        reply = await self.http.request(
            "GET", f"/cgi-bin/{cgi}", params=params, operation=operation, retry=retry
        )
        return reply.body

    async def clock(self) -> DeviceClock:
        sent_at = self.http.now()
        body = await self._get("global.cgi", {"action": "getCurrentTime"}, "getCurrentTime")
        received_at = self.http.now()
        return parse.current_time(body, sent_at, received_at, self.zone)

    async def info(self) -> DeviceInfo:
        system = await self._get("magicBox.cgi", {"action": "getSystemInfo"}, "getSystemInfo")
        # getDeviceType and getSoftwareVersion only refine what getSystemInfo says.
        device_type = await optional(
            self._get("magicBox.cgi", {"action": "getDeviceType"}, "getDeviceType"),
            "getDeviceType",
            {},
        )
        software = await optional(
            self._get("magicBox.cgi", {"action": "getSoftwareVersion"}, "getSoftwareVersion"),
            "getSoftwareVersion",
            {},
        )
        return parse.device_info(system, device_type, software)

    async def storage(self) -> tuple[Disk, ...]:
        body = await self._get(
            "storageDevice.cgi", {"action": "getDeviceAllInfo"}, "getDeviceAllInfo"
        )
        return parse.storage(body)

    async def rtsp_port(self) -> int | None:
        body = await self._get(
            "configManager.cgi", {"action": "getConfig", "name": "RTSP"}, "getConfig RTSP"
        )
        return parse.rtsp_port(body)

    @contextlib.asynccontextmanager
    async def finders(self) -> AsyncIterator[None]:
        """Searches inside share finders (``FinderPool``); every finder made is
        destroyed on the way out, errors and cancellation included."""
        pool = FinderPool(self, self.http.settings.max_connections_per_host)
        self._pool = pool
        try:
            yield
        finally:
            self._pool = None
            await pool.destroy_all()

    async def create_finder(self) -> str:
        body = await self._get("mediaFileFind.cgi", {"action": "factory.create"}, "factory.create")
        return parse.finder(body)

    async def files(
        self,
        channel: int,
        start: dt.datetime,
        end: dt.datetime,
        *,
        first_page_only: bool = False,
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """Recorded files of ``channel`` overlapping ``[start, end)`` (UTC instants; the
        device is asked in its local wall time), as UTC (start, end) pairs."""
        if self._pool is not None:
            async with self._pool.lease() as handle:
                try:
                    return await self._find(handle, channel, start, end, first_page_only)
                finally:
                    await self.release(handle, ("close",))
        handle = await self.create_finder()
        try:
            return await self._find(handle, channel, start, end, first_page_only)
        finally:
            await self.release(handle, ("close", "destroy"))

    async def _find(
        self,
        handle: str,
        channel: int,
        start: dt.datetime,
        end: dt.datetime,
        first_page_only: bool,
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        reply = await self.http.request(
            "GET",
            FIND,
            params={
                "action": "findFile",
                "object": handle,
                "condition.Channel": str(channel),
                "condition.StartTime": parse.from_utc(start, self.zone),
                "condition.EndTime": parse.from_utc(end, self.zone),
                "condition.Types[0]": "dav",
            },
            operation="findFile",
            accept=frozenset({200, 400}),
        )
        if reply.status == 400:
            # Reported for several firmware: 400 is "nothing in this window".
            return []
        parse.ok(reply.body, "findFile")
        found: list[tuple[dt.datetime, dt.datetime]] = []
        for _ in range(MAX_PAGES):
            page = parse.file_page(
                await self._get(
                    "mediaFileFind.cgi",
                    {"action": "findNextFile", "object": handle, "count": str(PAGE_SIZE)},
                    "findNextFile",
                    # each call moves the device's cursor: a resend could skip a page
                    retry=False,
                )
            )
            if page.found == 0:
                return found
            if not page.items:
                raise DeviceError(
                    "malformed", "findNextFile: found>0 but no items", operation="findNextFile"
                )
            found.extend(
                (parse.to_utc(s, self.zone), parse.to_utc(e, self.zone)) for s, e in page.items
            )
            if first_page_only:
                return found
        raise DeviceError(
            "device_fault", f"findNextFile not done after {MAX_PAGES} pages", operation="findFile"
        )

    async def release(self, handle: str, actions: tuple[str, ...]) -> None:
        """``close`` and/or ``destroy``; failures only logged (the results are in hand,
        and the capture shows firmware answering ``Error`` to a close it did not need)."""
        for action in actions:
            try:
                await self._get("mediaFileFind.cgi", {"action": action, "object": handle}, action)
            except DeviceError as err:
                logger.debug("%s: mediaFileFind %s failed: %s", self, action, err)
