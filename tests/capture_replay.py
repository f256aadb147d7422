"""Replay a capture folder (``vidaudit probe --capture``) and check vidaudit still
concludes what the manifest says.

The captured replies are served over loopback HTTP, each operation's replies in the order
they were captured, by a device that checks our WS-UsernameToken against its own clock
(the captured device's drift) -- the same ``FakeDevice`` the fixture tests use.  The
collector's clock is set back to the capture's instant (``elapsed_clock``), so footage
ages, business days and drift are judged as they were that day.  A call that got no
reply is answered the way it failed: a timeout by silence, a refused connection by a
dropped one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

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
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Inventory
from vidaudit.onvif.settings import OnvifSettings

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


async def replay(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the manifest expects, what vidaudit concludes from the replay)."""
    capture = load_capture(folder)
    manifest = capture.manifest
    inventory = Inventory.model_validate(manifest["inventory"])
    branch = inventory.branches[0]
    configured = branch.devices[0]
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
