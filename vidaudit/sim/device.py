"""One simulated device: its clock, channels, credentials, search sessions and the
request pipeline (parse -> fault -> authenticate -> dispatch -> render)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from vidaudit.sim import dahua, faults, isapi, snapshot
from vidaudit.sim.auth import DeviceAuth, not_authorized
from vidaudit.sim.handlers import NO_AUTH, OPERATIONS, PROFILE_G_SERVICES
from vidaudit.sim.http import HttpRequest, response_bytes
from vidaudit.sim.plan import BranchPlan, ChannelPlan, DeviceKind, DevicePlan, FaultKind
from vidaudit.sim.posixtz import parse_posix_tz
from vidaudit.sim.searches import SearchStore
from vidaudit.sim.soap import (
    SoapFault,
    SoapRequest,
    envelope,
    invalid_arg,
    not_supported,
    parse_request,
)
from vidaudit.sim.timeline import Timeline, build_timeline
from vidaudit.sim.vendors import Tokens, flavour

SERVICES = ("device", "media", "recording", "search", "replay")
SNAPSHOT_PATH = re.compile(r"^/snapshot/(\d+)\.jpg$")


@dataclass
class SimChannel:
    plan: ChannelPlan
    tokens: Tokens
    timeline: Timeline

    @property
    def tracks(self) -> list[tuple[str, str]]:
        """(track token, track type) as the recording holds them."""
        out = [(self.tokens.video_track, "Video")]
        if self.plan.audio:
            out.append((self.tokens.audio_track, "Audio"))
        if self.tokens.metadata_track:
            out.append((self.tokens.metadata_track, "Metadata"))
        return out

    def recording_now(self, now: dt.datetime) -> bool:
        return self.timeline.recording_at(now)


@dataclass
class Counters:
    requests: int = 0
    faults: int = 0
    auth_failures: int = 0


class SimDevice:
    def __init__(
        self,
        plan: DevicePlan,
        branch: BranchPlan,
        fleet_now: dt.datetime,
        seed: int,
        host: str,
        port: int,
        rtsp_port: int,
        stop: asyncio.Event,
    ) -> None:
        self.plan = plan
        self.branch = branch
        self.flavour = flavour(plan.vendor)
        self.tz = parse_posix_tz(plan.posix_tz)
        self.host = host
        self.port = port
        self.rtsp_port = rtsp_port
        self.stop = stop
        self._drift = dt.timedelta(seconds=plan.clock_drift_s)
        device_now = fleet_now + self._drift
        self.channels = [
            SimChannel(
                c,
                self.flavour.tokens(plan.id, c.number),
                build_timeline(c, branch, device_now, seed),
            )
            for c in plan.channels
        ]
        self._by_profile = {ch.tokens.profile: ch for ch in self.channels}
        self._by_recording = {ch.tokens.recording: ch for ch in self.channels}
        self._by_job = {ch.tokens.job: ch for ch in self.channels}
        self._by_number = {ch.plan.number: ch for ch in self.channels}
        self.serial = hashlib.sha256(f"{seed}:{plan.id}".encode()).hexdigest()[:16].upper()
        self.model = (
            self.flavour.nvr_model if plan.kind is DeviceKind.NVR else self.flavour.camera_model
        )
        self.auth = DeviceAuth(
            plan.username,
            plan.password,
            realm=f"{self.flavour.manufacturer.split()[0]} {self.serial}",
            clock=self.now,
            secret=secrets.token_bytes(16),
            ws_fail_status=self.flavour.ws_auth_fail_status,
            algorithm=plan.vendor_api.digest,
        )
        self.searches = SearchStore(self.flavour.search_handle_format)
        # The vendor's own HTTP API, served beside ONVIF: Hikvision ISAPI, Dahua CGIs.
        self.vendor_api = {"hikvision": "/ISAPI/", "dahua": "/cgi-bin/"}.get(plan.vendor)
        self.isapi_searches = isapi.SearchCache()
        self.dahua_finders = dahua.Finders()
        self.soap_paths = frozenset(self.flavour.paths.values())
        self.counters = Counters()
        self.connections: set[asyncio.Task[None]] = set()
        self._cache: dict[str, str] = {}
        self._snapshots = snapshot.SnapshotCache(size=max(4, min(64, len(self.channels) * 2)))

    # ---------------------------------------------------------------- identity and time
    def now(self) -> dt.datetime:
        """The device's clock: true UTC plus its drift."""
        return dt.datetime.now(dt.UTC) + self._drift

    def services(self) -> list[str]:
        if self.plan.profile_s_only:
            return [s for s in SERVICES if s not in PROFILE_G_SERVICES]
        return list(SERVICES)

    def xaddr(self, service: str) -> str:
        return f"http://{self.host}:{self.port}{self.flavour.paths[service]}"

    @property
    def device_url(self) -> str:
        return self.xaddr("device")

    def cached(self, key: str, render: Callable[[], str]) -> str:
        """Responses that never change (profiles, recordings list...) render once."""
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = render()
        return found

    # ---------------------------------------------------------------- lookups
    def channel_by_profile(self, token: str) -> SimChannel:
        found = self._by_profile.get(token)
        if found is None:
            raise invalid_arg(f"no profile {token!r}", "NoProfile")
        return found

    def channel_by_recording(self, token: str, fault_detail: str = "NoRecording") -> SimChannel:
        found = self._by_recording.get(token)
        if found is None:
            raise invalid_arg(f"no recording {token!r}", fault_detail)
        return found

    def channel_by_job(self, token: str) -> SimChannel:
        found = self._by_job.get(token)
        if found is None:
            raise invalid_arg(f"no recording job {token!r}", "NoRecordingJob")
        return found

    def channel_by_number(self, number: int) -> SimChannel | None:
        return self._by_number.get(number)

    def snapshot_url(self, ch: SimChannel) -> str:
        return f"http://{self.host}:{self.port}/snapshot/{ch.plan.number}.jpg"

    def replay_uri(self, ch: SimChannel) -> str:
        now = self.now()
        start = ch.timeline.earliest or now
        end = ch.timeline.latest(now) or now
        return self.flavour.replay_uri(
            self.host,
            self.rtsp_port,
            ch.plan.number,
            quote(ch.tokens.recording, safe=""),
            start,
            end,
            self.tz.utc_offset,
        )

    # ---------------------------------------------------------------- request pipeline
    async def on_connect(self, writer: asyncio.StreamWriter) -> bool:
        fault = self.plan.fault
        if fault is not None and fault.kind is FaultKind.HANG and fault.operations is None:
            # Accept, then never read or answer: the classic wedged embedded web server.
            self.counters.faults += 1
            await faults.hang(self.stop)
            return False
        return True

    async def respond(self, request: HttpRequest, writer: asyncio.StreamWriter) -> bool:
        self.counters.requests += 1
        if request.path in self.soap_paths:
            if request.method != "POST":
                writer.write(
                    response_bytes(
                        405,
                        b"POST SOAP here",
                        "text/plain",
                        (("Allow", "POST"),),
                        request.keep_alive,
                    )
                )
                return True
            return await self._soap(request, writer)
        if self.vendor_api is not None and request.path.startswith(self.vendor_api):
            return await self._vendor(request, writer)
        match = SNAPSHOT_PATH.match(request.path)
        if match and request.method in ("GET", "HEAD"):
            return await self._snapshot(request, writer, int(match.group(1)))
        writer.write(response_bytes(404, b"not found", "text/plain", keep_alive=request.keep_alive))
        return True

    async def _soap(self, request: HttpRequest, writer: asyncio.StreamWriter) -> bool:
        try:
            soap = parse_request(request.body)
        except SoapFault as refusal:
            writer.write(response_bytes(refusal.status, refusal.render(), keep_alive=False))
            return False
        fault = self.plan.fault
        if fault is not None and fault.applies_to(soap.operation):
            self.counters.faults += 1
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay_s)
            else:
                good = self._answer(request, soap)[1]
                return await faults.perform(fault, writer, good, self.stop)
        status, body, headers = self._answer(request, soap)
        writer.write(response_bytes(status, body, headers=headers, keep_alive=request.keep_alive))
        return True

    def _answer(
        self, request: HttpRequest, soap: SoapRequest
    ) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
        try:
            service = soap.service
            key = (service or "", soap.operation)
            if key not in NO_AUTH:
                self._authenticate(request, soap)
            handler = OPERATIONS.get(key)
            if handler is None or (self.plan.profile_s_only and service in PROFILE_G_SERVICES):
                raise not_supported(soap.operation)
            return 200, envelope(handler(self, soap)), ()
        except SoapFault as refusal:
            if "ter:NotAuthorized" in refusal.subcodes:
                self.counters.auth_failures += 1
            return refusal.status, refusal.render(), refusal.headers

    def _authenticate(self, request: HttpRequest, soap: SoapRequest) -> None:
        authorization = request.headers.get("authorization")
        token = self.auth.username_token(soap.header)
        # ONVIF core: HTTP-level credentials are validated first, then WS-level ones.
        if authorization:
            self.auth.check_http_digest(request.method, request.target, authorization)
        if token is not None:
            self.auth.check_username_token(token)
        if not authorization and token is None:
            raise not_authorized("Sender not Authorized", 401, self.auth.challenge())

    async def _vendor(self, request: HttpRequest, writer: asyncio.StreamWriter) -> bool:
        """ISAPI or Dahua HTTP API: digest first, then the scenario's fault, then the reply."""
        query = request.target.partition("?")[2]
        if self.plan.vendor == "hikvision":
            operation = isapi.operation_of(request.method, request.path)
        else:
            operation = dahua.operation_of(request.path, query)
        authorization = request.headers.get("authorization")
        try:
            if not authorization:
                raise not_authorized("authentication required", 401, self.auth.challenge())
            self.auth.check_http_digest(request.method, request.target, authorization)
        except SoapFault as refusal:
            if authorization:
                self.counters.auth_failures += 1
            # Hikvision's 401 page, as http401.digest-challenge.*.body.html captured it.
            page = (
                b"<!DOCTYPE html>\n<html><head><title>Document Error: Unauthorized</title>"
                b"</head>\n<body><h2>Access Error: 401 -- Unauthorized</h2>\n"
                b"<p>Authentication Error</p>\n</body>\n</html>\n"
            )
            writer.write(
                response_bytes(401, page, "text/html", refusal.headers, request.keep_alive)
            )
            return True
        if self.plan.vendor == "hikvision":
            status, body, content_type = isapi.answer(
                self, request.method, request.path, request.body
            )
        else:
            status, body, content_type = dahua.answer(self, request.path, query)
        fault = self.plan.fault
        if fault is not None and fault.applies_to(operation):
            self.counters.faults += 1
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay_s)
            else:
                return await faults.perform(fault, writer, body, self.stop)
        writer.write(response_bytes(status, body, content_type, keep_alive=request.keep_alive))
        return True

    async def _snapshot(
        self, request: HttpRequest, writer: asyncio.StreamWriter, number: int
    ) -> bool:
        authorization = request.headers.get("authorization")
        try:
            if not authorization:
                raise not_authorized("authentication required", 401, self.auth.challenge())
            self.auth.check_http_digest(request.method, request.target, authorization)
        except SoapFault as fault:
            self.counters.auth_failures += 1
            writer.write(
                response_bytes(
                    401, b"Unauthorized", "text/plain", fault.headers, request.keep_alive
                )
            )
            return True
        ch = self._by_number.get(number)
        if ch is None:
            writer.write(
                response_bytes(404, b"no such channel", "text/plain", keep_alive=request.keep_alive)
            )
            return True
        jpeg = await self.snapshot_jpeg(ch)
        body = b"" if request.method == "HEAD" else jpeg
        writer.write(response_bytes(200, body, "image/jpeg", keep_alive=request.keep_alive))
        return True

    async def snapshot_jpeg(self, ch: SimChannel) -> bytes:
        local = self.tz.local(self.now())
        key = self._snapshots.key(ch.plan.id, ch.plan.picture, local)
        jpeg = self._snapshots.get(key)
        if jpeg is None:
            jpeg = await asyncio.to_thread(snapshot.render, ch.plan.id, ch.plan.picture, local)
            self._snapshots.put(key, jpeg)
        return jpeg
