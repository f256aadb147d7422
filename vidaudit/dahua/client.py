"""``DahuaDevice``: the Dahua HTTP API calls the daily check needs.

Recorded files are found with ``mediaFileFind.cgi``: ``factory.create`` -> ``findFile``
(channel, start, end, ``Types[0]=dav``) -> ``findNextFile&count=100`` until ``found=0``
-> ``close`` and ``destroy``.  The finder is a session on the device: it is closed on
every path, errors included, or the recorder runs out of them.  Some firmware answers
``findFile`` with HTTP 400 when nothing is recorded in the window: that means no files,
not a fault.  NVR channels are 1-based.
"""

from __future__ import annotations

import datetime as dt
import logging

from vidaudit.dahua import parse
from vidaudit.devicehttp.client import HttpDevice, optional
from vidaudit.errors import DeviceError
from vidaudit.readings import DeviceClock, DeviceInfo, Disk

logger = logging.getLogger(__name__)

FIND = "/cgi-bin/mediaFileFind.cgi"
PAGE_SIZE = 100
#: Pages followed before a finder is declared stuck.
MAX_PAGES = 1000


class DahuaDevice:
    def __init__(self, http: HttpDevice, zone: dt.tzinfo) -> None:
        self.http = http
        #: The branch's zone: Dahua times carry no offset.
        self.zone = zone

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
        body = await self._get("mediaFileFind.cgi", {"action": "factory.create"}, "factory.create")
        handle = parse.finder(body)
        try:
            return await self._find(handle, channel, start, end, first_page_only)
        finally:
            await self._release(handle)

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

    async def _release(self, handle: str) -> None:
        """``close`` then ``destroy``; failures only logged (the results are in hand, and
        the capture shows firmware answering ``Error`` to a close it did not need)."""
        for action in ("close", "destroy"):
            try:
                await self._get("mediaFileFind.cgi", {"action": action, "object": handle}, action)
            except DeviceError as err:
                logger.debug("%s: mediaFileFind %s failed: %s", self, action, err)
