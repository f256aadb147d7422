"""Replay a capture folder (``vidaudit probe --capture``) and check vidaudit still
concludes what the manifest says.

The captured replies are served over loopback HTTP, each operation's replies in the order
they were captured, by a device that checks our WS-UsernameToken against its own clock
(the captured device's drift) -- the same ``FakeDevice`` the fixture tests use.  The
collector's clock is set back to the capture's instant (``elapsed_clock``), so footage
ages, business days and drift are judged as they were that day.  A call that got no
reply is answered the way it failed: a timeout by silence, a refused connection by a
dropped one.

A recorder read through its vendor API (ISAPI, Dahua) is replayed the same way by
``VendorReplay``: its captured HTTP replies served by call (method, path and Dahua
``action``), in captured order, behind HTTP digest (the simulator's own ``DeviceAuth``:
a challenge, then the answer checked).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from lxml import etree

from tests.onvif_testkit import ENV, FakeDevice, fault, start
from vidaudit.capture.layout import Call, Capture, load_capture
from vidaudit.collector.device_probe import (
    REPLAY_PASSWORD_ENV,
    conclusions,
    elapsed_clock,
    probe_one,
    schema_problems,
)
from vidaudit.devicehttp.client import HttpSettings, call_name
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api, Inventory
from vidaudit.onvif.settings import OnvifSettings
from vidaudit.sim.auth import DeviceAuth
from vidaudit.sim.soap import SoapFault

REPLAY_PASSWORD = "replayed-capture-pw"
#: Replayed calls answer at once; a captured timeout is replayed as this much silence.
REPLAY_CALL_TIMEOUT_S = 2.0
#: Earliest/latest footage may move by the replay's own timing (drift is measured anew).
TIME_TOLERANCE = dt.timedelta(seconds=5)


class ReplayDevice(FakeDevice):
    """Serves a capture's ONVIF replies by operation, in captured order."""

    def __init__(self, capture: Capture, username: str, drift_s: float | None) -> None:
        super().__init__(
            username=username,
            password=REPLAY_PASSWORD,
            clock_offset=dt.timedelta(seconds=drift_s or 0),
        )
        self.queues = {op: list(calls) for op, calls in capture.replies("onvif").items()}
        self.served: dict[str, int] = {}

    def _next(self, operation: str) -> Call | None:
        calls = self.queues.get(operation)
        if not calls:
            return None
        n = self.served.get(operation, 0)
        self.served[operation] = n + 1
        return calls[min(n, len(calls) - 1)]  # asked more often than captured: the last

    async def handle(self, request: web.Request) -> web.Response:
        envelope = etree.fromstring(await request.read())
        operation = etree.QName(envelope.find(f"{{{ENV}}}Body")[0]).localname
        self.calls.append(operation)
        call = self._next(operation)
        if call is not None and call.reply is None:
            kind = (call.error or {}).get("kind")
            if kind == "timeout":
                await asyncio.sleep(REPLAY_CALL_TIMEOUT_S * 2)
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPInternalServerError()
        if operation != "GetSystemDateAndTime" and not self._authorised(envelope):
            return web.Response(
                status=400,
                body=fault("ter:NotAuthorized", "Sender not Authorized"),
                content_type="application/soap+xml",
            )
        if call is None:
            body = fault("ter:ActionNotSupported", f"{operation} not captured", code="env:Receiver")
            return web.Response(status=400, body=body, content_type="application/soap+xml")
        return web.Response(
            status=call.status or 200, body=call.reply, content_type="application/soap+xml"
        )


class VendorReplay:
    """Serves a capture's ISAPI or Dahua replies, each in captured order within its
    stream, behind HTTP digest.

    The readers query channels concurrently, so the order of calls across channels is
    not the captured one: a reply is served by call and channel (ISAPI: the track in the
    path or the search's ``trackID``), and a Dahua media-file finder's calls (``findFile``
    to ``destroy``, by ``object``) as one session: the replay's finder for channel N gets
    the next captured finder session of channel N.
    """

    def __init__(self, capture: Capture, protocol: str, username: str) -> None:
        self.queues: dict[tuple[str, str | None], list[Call]] = {}
        #: per channel, captured finder sessions: action -> its replies in order
        self.finders: dict[str, list[dict[str, list[Call]]]] = {}
        open_sessions: dict[str, dict[str, list[Call]]] = {}
        for call in capture.calls:
            if call.protocol != protocol:
                continue
            query, body = _parts(call.request)
            action, handle = query.get("action"), query.get("object")
            if handle is not None and action != "factory.create":
                if action == "findFile":
                    open_sessions[handle] = {}
                    self.finders.setdefault(query.get("condition.Channel", ""), []).append(
                        open_sessions[handle]
                    )
                session = open_sessions.get(handle)
                if session is not None:
                    session.setdefault(action or "", []).append(call)
                if action == "destroy":
                    open_sessions.pop(handle, None)
                continue
            self.queues.setdefault((call.operation, _channel(call.operation, body)), []).append(
                call
            )
        self.served: dict[int, int] = {}
        self.bound: dict[str, dict[str, list[Call]]] = {}
        self.calls: list[str] = []
        self.auth = DeviceAuth(
            username,
            REPLAY_PASSWORD,
            realm="replay",
            clock=lambda: dt.datetime.now(dt.UTC),
            secret=secrets.token_bytes(16),
        )
        self.base_url = ""

    def _next(self, calls: list[Call] | None) -> Call | None:
        if not calls:
            return None
        n = self.served.get(id(calls), 0)
        self.served[id(calls)] = n + 1
        return calls[min(n, len(calls) - 1)]  # asked more often than captured: the last

    def _find(self, name: str, query: dict[str, str], body: bytes) -> Call | None:
        action, handle = query.get("action"), query.get("object")
        if handle is None or action == "factory.create":
            return self._next(self.queues.get((name, _channel(name, body))))
        if action == "findFile":
            sessions = self.finders.get(query.get("condition.Channel", ""))
            if not sessions:
                return None
            self.bound[handle] = sessions.pop(0)
        session = self.bound.get(handle, {})
        if action == "destroy":
            self.bound.pop(handle, None)
        return self._next(session.get(action or ""))

    async def handle(self, request: web.Request) -> web.Response:
        try:
            self.auth.check_http_digest(
                request.method, request.raw_path, request.headers.get("Authorization", "")
            )
        except SoapFault as fault:
            return web.Response(status=fault.status, headers=dict(fault.headers))
        query = dict(request.query)
        name = call_name(request.method, request.path, query)
        self.calls.append(name)
        call = self._find(name, query, await request.read())
        if call is None:
            return web.Response(status=404, text=f"{name} not captured")
        if call.reply is None:
            if (call.error or {}).get("kind") == "timeout":
                await asyncio.sleep(REPLAY_CALL_TIMEOUT_S * 2)
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPInternalServerError()
        return web.Response(status=call.status or 200, body=call.reply)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner


def _parts(request: bytes) -> tuple[dict[str, str], bytes]:
    """The query and body of a captured HTTP request (``METHOD target\\r\\n\\r\\nbody``)."""
    head, _, body = request.partition(b"\r\n\r\n")
    target = head.decode("utf-8", "replace").split(" ", 1)[-1]
    return dict(parse_qsl(urlsplit(target).query, keep_blank_values=True)), body


_TRACK = re.compile(r"/tracks/(\d+)/")
_TRACK_ID = re.compile(rb"<(?:\w+:)?trackID>\s*(\d+)\s*<")


def _channel(name: str, body: bytes) -> str | None:
    """Which channel an ISAPI call is about (a track in the path or the search body)."""
    if found := _TRACK.search(name):
        return found.group(1)
    if found_id := _TRACK_ID.search(body):
        return found_id.group(1).decode()
    return None


async def replay(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the manifest expects, what vidaudit concludes from the replay)."""
    capture = load_capture(folder)
    manifest = capture.manifest
    inventory = Inventory.model_validate(manifest["inventory"])
    branch = inventory.branches[0]
    configured = branch.devices[0]
    if configured.api is not Api.ONVIF:
        return manifest["expected"], await _replay_vendor(capture, inventory)
    device = ReplayDevice(capture, configured.username, manifest["device"].get("clock_drift_s"))
    runner = await start(device)
    try:
        target = configured.model_copy(update={"onvif": device.url})
        branch = branch.model_copy(update={"devices": [target]})
        inventory = inventory.model_copy(update={"branches": [branch]})
        resolver = SecretResolver(inventory, None, environ={REPLAY_PASSWORD_ENV: REPLAY_PASSWORD})
        settings = OnvifSettings(
            call_timeout_s=REPLAY_CALL_TIMEOUT_S,
            connect_timeout_s=1.0,
            device_deadline_s=60,
            job_states=False,  # as the collector asks (Settings.onvif)
            xaddr_host_override=True,  # the captured XAddrs name a placeholder host
        )
        captured_at = dt.datetime.fromisoformat(manifest["captured_at"])
        outcome = await probe_one(
            inventory, branch, target, resolver, settings, clock=elapsed_clock(captured_at)
        )
    finally:
        await runner.cleanup()
    return manifest["expected"], conclusions(outcome)


async def _replay_vendor(capture: Capture, inventory: Inventory) -> dict[str, Any]:
    branch = inventory.branches[0]
    configured = branch.devices[0]
    device = VendorReplay(capture, configured.api.value, configured.username)
    runner = await device.start()
    try:
        target = configured.model_copy(update={"url": device.base_url})
        branch = branch.model_copy(update={"devices": [target]})
        inventory = inventory.model_copy(update={"branches": [branch]})
        resolver = SecretResolver(inventory, None, environ={REPLAY_PASSWORD_ENV: REPLAY_PASSWORD})
        captured_at = dt.datetime.fromisoformat(capture.manifest["captured_at"])
        outcome = await probe_one(
            inventory,
            branch,
            target,
            resolver,
            OnvifSettings(),
            clock=elapsed_clock(captured_at),
            http=HttpSettings(call_timeout_s=REPLAY_CALL_TIMEOUT_S, connect_timeout_s=1.0),
        )
    finally:
        await runner.cleanup()
    return conclusions(outcome)


def _close(expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected == got
    return abs(dt.datetime.fromisoformat(expected) - dt.datetime.fromisoformat(got)) <= (
        TIME_TOLERANCE
    )


async def check_capture(folder: Path) -> None:
    """Fail with what differs when a replay does not conclude what the manifest says."""
    capture = load_capture(folder)
    for call in capture.calls:
        if call.protocol != "onvif":
            continue  # ISAPI and Dahua have no schema we hold (the calls keep none)
        # The schema's word on each reply is pinned too: a quirk stays a known quirk.
        assert list(schema_problems(call.reply)) == list(call.schema), (
            f"{folder.name}: {call.operation}: schema problems changed"
        )
    expected, got = await replay(folder)
    where = folder.name
    assert got["device"] == expected["device"], (where, got["device"], expected["device"])
    assert got["channels"].keys() == expected["channels"].keys(), where
    for channel, wanted in expected["channels"].items():
        found = got["channels"][channel]
        for key in ("earliest", "latest"):
            assert _close(wanted[key], found[key]), (where, channel, key, wanted[key], found[key])
        same = {k: v for k, v in found.items() if k not in ("earliest", "latest")}
        assert same == {k: v for k, v in wanted.items() if k not in ("earliest", "latest")}, (
            where,
            channel,
        )
