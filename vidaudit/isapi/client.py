"""``IsapiDevice``: the ISAPI calls the daily check needs, each returning our types.

Built over one ``devicehttp.HttpDevice`` (digest auth, deadline, bounded replies), so
every failure is a ``DeviceError`` with a kind.  Search pages are followed here:
``searchResultPostion`` advances by the matches received, while ``responseStatusStrg``
says ``MORE``; devices cap a page at about 40 matches whatever ``maxResults`` asks
(the vendor's web SDK documentation), so the position must count what came, not what
was asked.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid

from vidaudit.devicehttp.client import HttpDevice
from vidaudit.errors import DeviceError
from vidaudit.isapi import parse
from vidaudit.readings import DeviceClock, DeviceInfo, Disk

XML = "application/xml; charset=UTF-8"
#: Matches asked per search page; devices answer with fewer (about 40).
PAGE_SIZE = 100
#: Pages followed before a search is declared stuck (a device repeating MORE forever).
MAX_PAGES = 1000


class IsapiDevice:
    def __init__(self, http: HttpDevice) -> None:
        self.http = http

    def __repr__(self) -> str:
        return f"IsapiDevice({self.http.base!r})"

    async def _get(self, path: str, operation: str) -> bytes:
        return (await self.http.request("GET", path, operation=operation)).body

    async def _post(self, path: str, body: bytes, operation: str) -> bytes:
        reply = await self.http.request(
            "POST", path, operation=operation, body=body, content_type=XML
        )
        return reply.body

    async def clock(self) -> DeviceClock:
        sent_at = self.http.now()
        body = await self._get("/ISAPI/System/time", "time")
        received_at = self.http.now()
        return parse.device_time(body, sent_at, received_at)

    async def info(self) -> DeviceInfo:
        return parse.device_info(await self._get("/ISAPI/System/deviceInfo", "deviceInfo"))

    async def storage(self) -> tuple[Disk, ...]:
        return parse.storage(await self._get("/ISAPI/ContentMgmt/Storage", "Storage"))

    async def channel_ids(self) -> tuple[int, ...]:
        body = await self._get("/ISAPI/ContentMgmt/InputProxy/channels", "InputProxy/channels")
        return parse.channel_ids(body)

    async def channel_status(self) -> dict[int, bool]:
        body = await self._get(
            "/ISAPI/ContentMgmt/InputProxy/channels/status", "InputProxy/channels/status"
        )
        return parse.channel_status(body)

    async def rtsp_port(self) -> int | None:
        return parse.rtsp_port(await self._get("/ISAPI/Security/adminAccesses", "adminAccesses"))

    async def month(self, channel: int, year: int, month: int) -> frozenset[dt.date]:
        """Device-local dates of ``year-month`` holding footage on the channel's main
        stream (``POST /ISAPI/ContentMgmt/record/tracks/{channel×100+1}/dailyDistribution``)."""
        track = parse.track_id(channel)
        body = await self._post(
            f"/ISAPI/ContentMgmt/record/tracks/{track}/dailyDistribution",
            parse.daily_request(year, month),
            "dailyDistribution",
        )
        days = parse.daily_distribution(body, year, month)
        last = calendar.monthrange(year, month)[1]
        return frozenset(d for d in days if d.day <= last)

    async def segments(
        self,
        channel: int,
        start: dt.datetime,
        end: dt.datetime,
        local_offset: dt.timedelta | None,
        *,
        first_page_only: bool = False,
    ) -> list[tuple[dt.datetime, dt.datetime]]:
        """Recorded segments of the channel's main stream overlapping ``[start, end)``
        (device-clock UTC), every page followed (or only the first)."""
        track = parse.track_id(channel)
        search_id = str(uuid.uuid4()).upper()
        position = 0
        found: list[tuple[dt.datetime, dt.datetime]] = []
        for _ in range(MAX_PAGES):
            body = await self._post(
                "/ISAPI/ContentMgmt/search",
                parse.search_request(search_id, track, start, end, position, PAGE_SIZE),
                "search",
            )
            page = parse.search_page(body, local_offset)
            found.extend((s, e) for t, s, e in page.items if t in (track, 0))
            if page.status != "MORE" or first_page_only:
                return found
            if not page.items:
                raise DeviceError(
                    "device_fault", "search: MORE with no matches", operation="search"
                )
            position += len(page.items)
        raise DeviceError(
            "device_fault", f"search not finished after {MAX_PAGES} pages", operation="search"
        )
