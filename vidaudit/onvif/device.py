"""``Device``: the calls the collector makes, each returning our dataclasses.

Every public method either returns a typed result or raises ``DeviceError``; nothing
else escapes for device, network or library failures.  Each call runs under
``min(call_timeout_s, time left before the device deadline)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from pydantic import SecretStr

from vidaudit.devicehttp.clock import FINE_DRIFT_WANTED, fine_drift
from vidaudit.onvif import convert
from vidaudit.onvif.errors import DeviceError
from vidaudit.onvif.models import (
    DeviceClock,
    DeviceInfo,
    Profile,
    Recording,
    RecordingEvent,
    RecordingJob,
    RecordingSummary,
    ReplayUri,
    Service,
    VideoSource,
)
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.onvif.timeparse import xs_datetime, xs_duration
from vidaudit.onvif.transport import BoundedTransport, HttpReply, Recorder
from vidaudit.onvif.xmlsafety import topic_expression
from vidaudit.onvif.zeepclient import (
    SERVICES,
    ZEEP_REPLY_ERRORS,
    load_document,
    make_token,
    service_proxy,
    set_token_offset,
)

logger = logging.getLogger(__name__)

#: FindEvents topics that describe recorded footage (ONVIF Recording Search §5.16).
RECORDING_TOPICS = ("RecordingHistory/Track/State", "RecordingHistory/Recording/State")
_RTSP_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
#: Budget for EndSearch after a search already failed: the device may be gone, and
#: KeepAliveTime frees the search on its side anyway.
_END_SEARCH_AFTER_FAILURE_S = 2.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Device:
    """One ONVIF device for the duration of one probe.  Built by ``OnvifPool.open``.

    Results are cached per Device where a probe asks twice (services, the clock offset).
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: SecretStr,
        *,
        session: aiohttp.ClientSession,
        settings: OnvifSettings,
        document_lock: asyncio.Lock,
        recorder: Recorder | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self._secret = password.get_secret_value()
        self._document_lock = document_lock
        middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = ()
        if settings.http_digest:
            # Answers a "WWW-Authenticate: Digest" challenge; without one it only
            # passes the request through.
            middlewares = (aiohttp.DigestAuthMiddleware(username, self._secret),)
        self._transport = BoundedTransport(
            session, settings, middlewares=middlewares, recorder=recorder
        )
        #: The collector's UTC clock: the instants around each clock reading.
        self._now = clock or _utcnow
        self._token = make_token(username, self._secret)
        #: (service, authenticated, raw) -> zeep service proxy.
        self._proxies: dict[tuple[str, bool, bool], Any] = {}
        self._services: tuple[Service, ...] | None = None
        self._time_adjusted = not settings.adjust_time
        # Concurrent calls on one Device (the collector may gather them) must not each
        # read the clock or GetServices, nor race ahead of the clock offset.
        self._clock_lock = asyncio.Lock()
        self._services_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        self._deadline = (
            None if settings.device_deadline_s is None else loop.time() + settings.device_deadline_s
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"Device({self.url!r})"

    @property
    def peer_certificate(self) -> str | None:
        """sha256 (hex) of the TLS certificate the device presented; None over http."""
        return self._transport.peer_certificate

    def close(self) -> None:
        """Forget per-device state; the pool owns (and closes) the connections."""
        self._closed = True
        self._proxies.clear()

    # -- plumbing ----------------------------------------------------------------

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

    def _scrub(self, error: DeviceError) -> DeviceError:
        return error.scrubbed(self._secret)

    def _xaddr(self, name: str) -> str | None:
        if name == "devicemgmt":
            return self.url
        namespace = SERVICES[name].namespace
        for service in self._services or ():
            if service.namespace == namespace:
                return service.xaddr
        return None

    async def _proxy(self, name: str, auth: bool, raw: bool = False) -> Any:
        key = (name, auth, raw)
        proxy = self._proxies.get(key)
        if proxy is not None:
            return proxy
        if name != "devicemgmt" and self._services is None:
            await self.services()
        xaddr = self._xaddr(name)
        if xaddr is None:
            raise DeviceError("unsupported", f"device does not offer the {name} service")
        document = await load_document(SERVICES[name], self._document_lock)
        proxy = service_proxy(
            document,
            SERVICES[name],
            xaddr,
            self._transport,
            self._token if auth else None,
            raw=raw,
        )
        self._proxies[key] = proxy
        return proxy

    async def _call(
        self,
        service: str,
        operation: str,
        params: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        budget: float | None = None,
        raw: bool = False,
    ) -> Any:
        """Call ``operation``; its reply as zeep objects, or with ``raw`` the checked
        ``<Operation>Response`` lxml element (zeep then only builds the request).
        """
        if self._closed:
            raise RuntimeError("Device used after its 'open' block ended")
        if auth and not self._time_adjusted:
            await self._adjust_time()
        limit = self.settings.call_timeout_s
        try:
            proxy = await self._proxy(service, auth, raw)
            limit = (
                self._budget(operation) if budget is None else min(budget, self._budget(operation))
            )
            async with asyncio.timeout(limit):
                reply = await getattr(proxy, operation)(**(params or {}))
            return _payload(reply, operation) if raw else reply
        except DeviceError as err:
            if err.operation is None:
                err.operation = operation
            raise self._scrub(err) from None
        except TimeoutError as exc:
            raise self._scrub(
                DeviceError(
                    "timeout", f"no complete answer within {limit:.1f} s", operation=operation
                )
            ) from exc
        except ZEEP_REPLY_ERRORS as exc:
            raise self._scrub(
                DeviceError(
                    "malformed",
                    f"reply does not match the schema: {type(exc).__name__}: {exc}"[:400],
                    operation=operation,
                )
            ) from None

    async def _adjust_time(self) -> None:
        """Read the device clock once so WS-Security ``Created`` follows it."""
        async with self._clock_lock:
            if self._time_adjusted:
                return
            try:
                await self.clock()
            except DeviceError as err:
                if err.kind in ("unreachable", "timeout"):
                    raise
                # No usable clock (malformed struct, fault): use our own time.
                logger.debug("%s: clock not read (%s); WS-Security uses local time", self.url, err)
            finally:
                self._time_adjusted = True

    # -- device management -------------------------------------------------------

    async def clock(self) -> DeviceClock:
        """GetSystemDateAndTime (unauthenticated first, as ONVIF allows; Axis firmware
        demands authentication even here, so retry with it), plus the send/receive
        instants.  With ``adjust_time`` the reading also sets the WS-Security offset.
        """
        # Build the proxy (first use in a process parses the WSDL, ~0.1 s) before taking
        # sent_at, so the midpoint brackets only the network exchange.
        await self._proxy("devicemgmt", False)
        sent_at = self._now()
        try:
            reply = await self._call("devicemgmt", "GetSystemDateAndTime", auth=False, raw=True)
        except DeviceError as err:
            if err.kind != "auth":
                raise
            self._time_adjusted = True  # do not recurse into _adjust_time
            await self._proxy("devicemgmt", True)
            sent_at = self._now()
            reply = await self._call("devicemgmt", "GetSystemDateAndTime", auth=True, raw=True)
        received_at = self._now()
        reading = convert.device_clock(reply, sent_at, received_at)
        if self.settings.adjust_time and reading.drift is not None:
            set_token_offset(self._token, reading.drift)
            self._time_adjusted = True
        return reading

    async def fine_drift(
        self, budget_s: float = 3.0, wanted: dt.timedelta = FINE_DRIFT_WANTED
    ) -> dt.timedelta | None:
        """Device clock − ours to a few milliseconds, not GetSystemDateAndTime's second
        (``devicehttp.clock.fine_drift``: GetSystemDateAndTime read until its seconds roll
        over).  Used where instants matter to the frame (evidence pulls), not by the
        collector.  None when the device gives no UTC time or never rolled over."""
        drift = await fine_drift(self.clock, self._now, budget_s, wanted)
        if drift is None:
            return None
        if self.settings.adjust_time:
            set_token_offset(self._token, drift)
        return drift

    async def info(self) -> DeviceInfo:
        return convert.device_info(await self._call("devicemgmt", "GetDeviceInformation", raw=True))

    async def services(self) -> tuple[Service, ...]:
        """Services and XAddrs from GetServices; GetCapabilities only as a fallback for
        firmware without GetServices (zeep leaves its Extension raw; we read it anyway).
        """
        if self._services is not None:
            return self._services
        async with self._services_lock:
            if self._services is None:
                self._services = await self._discover()
            return self._services

    async def _discover(self) -> tuple[Service, ...]:
        try:
            reply = await self._call(
                "devicemgmt", "GetServices", {"IncludeCapability": False}, raw=True
            )
            found = convert.services(reply, self.url, self.settings.xaddr_host_override)
        except DeviceError as err:
            if err.kind not in ("unsupported", "device_fault", "malformed"):
                raise
            logger.debug("%s: GetServices failed (%s), trying GetCapabilities", self.url, err)
            reply = await self._call("devicemgmt", "GetCapabilities", {"Category": "All"})
            found = convert.capabilities(reply, self.url, self.settings.xaddr_host_override)
        return found

    def offers(self, name: str) -> bool:
        """Whether the device advertised service ``name`` (after ``services()``)."""
        return name in SERVICES and self._xaddr(name) is not None

    # -- media -------------------------------------------------------------------

    async def profiles(self) -> tuple[Profile, ...]:
        return convert.profiles_reply(await self._call("media", "GetProfiles", raw=True))

    async def video_sources(self) -> tuple[VideoSource, ...]:
        return convert.video_sources(await self._call("media", "GetVideoSources"))

    async def snapshot_uri(self, profile_token: str) -> str:
        reply = await self._call("media", "GetSnapshotUri", {"ProfileToken": profile_token})
        return convert.media_uri(reply, "GetSnapshotUri")

    async def stream_uri(self, profile_token: str) -> str:
        reply = await self._call(
            "media", "GetStreamUri", {"StreamSetup": _RTSP_SETUP, "ProfileToken": profile_token}
        )
        return convert.media_uri(reply, "GetStreamUri")

    # -- recordings ----------------------------------------------------------------

    async def recording_summary(self) -> RecordingSummary:
        return convert.recording_summary(await self._call("search", "GetRecordingSummary"))

    async def recordings(self) -> tuple[Recording, ...]:
        """Recordings with their tracks and DataFrom/DataTo: FindRecordings ->
        GetRecordingSearchResults until Completed -> EndSearch; falls back to
        GetRecordings (configuration only, no times) when there is no search service.
        """
        await self.services()
        if self.offers("search"):
            try:
                return await self._find_recordings()
            except DeviceError as err:
                if err.kind != "unsupported" or not self.offers("recording"):
                    raise
                logger.debug("%s: FindRecordings unsupported, using GetRecordings", self.url)
        if self.offers("recording"):
            reply = await self._call("recording", "GetRecordings")
            return tuple(convert.recording_item(item) for item in convert.listed(reply))
        raise DeviceError(
            "unsupported",
            "device offers neither the search nor the recording service",
            operation="FindRecordings",
        )

    async def _find_recordings(self) -> tuple[Recording, ...]:
        reply = await self._call(
            "search",
            "FindRecordings",
            {"Scope": {}, "KeepAliveTime": xs_duration(self.settings.search_keepalive_s)},
            raw=True,
        )
        token = convert.search_token(reply, "FindRecordings")
        found: dict[str, Recording] = {}

        async def page() -> bool:
            response = await self._call(
                "search",
                "GetRecordingSearchResults",
                {
                    "SearchToken": token,
                    "MaxResults": self.settings.search_page_size,
                    "WaitTime": xs_duration(self.settings.search_wait_s),
                },
                raw=True,  # read by convert.recording_search_page, not zeep
            )
            recordings, completed = convert.recording_search_page(response)
            for recording in recordings:
                found.setdefault(recording.token, recording)
            return completed

        await self._paged_search(token, page, "GetRecordingSearchResults")
        return tuple(found.values())

    async def _paged_search(self, token: str, page: Any, operation: str) -> None:
        """Poll ``page()`` until it reports Completed; EndSearch on every path."""
        failed = True
        try:
            for _ in range(self.settings.search_max_pages):
                if await page():
                    failed = False
                    return
            raise DeviceError(
                "device_fault",
                f"search not Completed after {self.settings.search_max_pages} pages",
                operation=operation,
            )
        finally:
            await self._end_search(token, after_failure=failed)

    async def _end_search(self, token: str, *, after_failure: bool) -> None:
        try:
            await self._call(
                "search",
                "EndSearch",
                {"SearchToken": token},
                budget=_END_SEARCH_AFTER_FAILURE_S if after_failure else None,
                raw=True,  # nothing to read: a fault is raised by the transport
            )
        except DeviceError as err:
            # The results are in hand (or the search already failed); the device frees
            # the search after KeepAliveTime anyway.
            logger.debug("%s: EndSearch failed: %s", self.url, err)

    async def track_events(
        self,
        recording_tokens: str | Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
    ) -> tuple[RecordingEvent, ...]:
        """Recording/track state changes between ``start`` and ``end`` (aware instants):
        FindEvents on ``tns1:RecordingHistory/Track/State`` and ``.../Recording/State``
        with IncludeStartState=true, paged with GetEventSearchResults until Completed,
        EndSearch on every path.  Events come back in the device's order.
        """
        params: dict[str, Any] = {
            "StartPoint": xs_datetime(start),
            "EndPoint": xs_datetime(end),
            # One search over all wanted recordings: a 16-channel NVR answers in one or
            # two pages instead of sixteen searches of three calls each.
            "Scope": {
                "IncludedRecordings": (
                    [recording_tokens]
                    if isinstance(recording_tokens, str)
                    else list(recording_tokens)
                )
            },
            "SearchFilter": {"_value_1": [topic_expression(RECORDING_TOPICS)]},
            "IncludeStartState": True,
            "KeepAliveTime": xs_duration(self.settings.search_keepalive_s),
        }
        try:
            reply = await self._call("search", "FindEvents", params, raw=True)
        except DeviceError as err:
            if err.kind != "device_fault":
                raise
            # Some firmware faults on any SearchFilter; filter on our side instead.
            logger.debug("%s: FindEvents with topic filter failed (%s)", self.url, err)
            params.pop("SearchFilter")
            reply = await self._call("search", "FindEvents", params, raw=True)
        token = convert.search_token(reply, "FindEvents")
        events: list[RecordingEvent] = []

        async def page() -> bool:
            response = await self._call(
                "search",
                "GetEventSearchResults",
                {
                    "SearchToken": token,
                    "MaxResults": self.settings.search_page_size,
                    "WaitTime": xs_duration(self.settings.search_wait_s),
                },
                raw=True,  # read by convert.event_search_page, not zeep
            )
            found, completed = convert.event_search_page(response, RECORDING_TOPICS)
            events.extend(found)
            return completed

        await self._paged_search(token, page, "GetEventSearchResults")
        return tuple(events)

    async def recording_jobs(self) -> tuple[RecordingJob, ...]:
        """GetRecordingJobs, plus each job's GetRecordingJobState when ``job_states``.

        A state call that fails leaves that job's state unknown with the reason
        (``RecordingJob.state_error``); the jobs themselves stand.  A fault or a bad reply
        is about one job, so the next job is still asked; a device that stops answering
        (timeout, unreachable, refused credentials) is not asked again, and the remaining
        jobs carry the same reason.  ``unsupported`` is no failure: the firmware does not
        report job states, for any job.
        """
        reply = await self._call("recording", "GetRecordingJobs", raw=True)
        jobs = convert.recording_jobs_reply(reply)
        if not self.settings.job_states:
            return jobs
        result: list[RecordingJob] = []
        asking = True
        stopped: DeviceError | None = None
        for job in jobs:
            if not asking or stopped is not None:
                result.append(replace(job, state_error=stopped))
                continue
            try:
                state = convert.job_state(
                    await self._call("recording", "GetRecordingJobState", {"JobToken": job.token})
                )
            except DeviceError as err:
                if err.kind == "unsupported":
                    asking = False
                    result.append(job)
                    continue
                if err.kind not in ("device_fault", "malformed"):
                    stopped = err
                result.append(replace(job, state_error=err))
                continue
            result.append(replace(job, state=state))
        return tuple(result)

    # -- replay --------------------------------------------------------------------

    async def replay_uri(self, recording_token: str) -> ReplayUri:
        reply = await self._call(
            "replay",
            "GetReplayUri",
            {"StreamSetup": _RTSP_SETUP, "RecordingToken": recording_token},
        )
        return convert.replay_uri(reply, recording_token)


def _payload(reply: Any, operation: str) -> Any:
    """The checked Body element of a raw reply (see ``transport.HttpReply``)."""
    if not isinstance(reply, HttpReply):
        # Only our transport answers these proxies; anything else is a wiring bug.
        raise TypeError(f"{operation}: raw reply is {type(reply).__name__}, not HttpReply")
    if reply.payload is None:
        raise DeviceError("malformed", f"{operation}: empty SOAP Body", operation=operation)
    return reply.payload
