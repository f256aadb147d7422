"""Every reply the simulator renders, held to the ONVIF schemas nobody here wrote.

We write both the client and the simulated devices, so they can share one mistake and
agree (they did: ``trc:JobToken`` where ``onvif.xsd`` says ``tt:JobToken``).  This test
renders every operation the simulator serves (``handlers.OPERATIONS``, checked for
completeness), for every vendor flavour, on NVRs and cameras, in every state a channel or
device can be in (recording, stopped, outside its recording hours, with gaps, without
audio, without footage, 1970 summary and earliest-recording quirks, local-only and
UTC-only clocks, Profile-S-only), and validates the SOAP Body's child against
``onvif.xsd`` and the WSDL-embedded schemas shipped in onvif-zeep-async
(``vidaudit.onvif.schemas``).  The requests are built by zeep from the same WSDLs, and
validated too.  Faults are read by zeep's SOAP 1.2 fault reader (onvif-zeep-async ships
no SOAP 1.2 envelope schema, so a third-party reader stands in for it).

The transport faults (malformed XML, truncated bodies, XML bombs, ...) are broken on
purpose and are not here: ``tests/sim/test_faults.py`` covers them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import zeep.exceptions
from lxml import etree

from tests.sim.conftest import soap, topic_filter, username_token
from vidaudit.onvif import schemas
from vidaudit.onvif.zeepclient import SERVICES, WSDL_DIR
from vidaudit.sim import parse_scenario, resolve
from vidaudit.sim.device import SimDevice
from vidaudit.sim.handlers import OPERATIONS
from vidaudit.sim.http import HttpRequest
from vidaudit.sim.soap import parse_request
from vidaudit.sim.vendors import FLAVOURS

pytestmark = pytest.mark.timeout(120)

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
#: Channel states; ``hours`` records only in business hours (so stopped at night).
CHANNELS: list[dict[str, Any]] = [
    {"role": "counter", "gaps": [{"days_ago": 1, "at": "10:05", "minutes": 47}]},
    {"role": "vault", "stopped_days_ago": 2.5, "audio": False},
    {"role": "lobby", "pattern": "business_hours", "random_gaps": 4},
    {"role": "atm", "retention_days": 0},  # nothing recorded yet
]
#: Device states beyond the vendor flavour.
DEVICE_STATES: list[dict[str, Any]] = [
    {},
    {"time_report": "local_only", "posix_tz": "BRT3", "clock_drift_s": 400},
    {"time_report": "utc_only", "kind": "camera"},
    {"profile_s_only": True, "kind": "camera"},
]


def _scenario() -> Any:
    devices = []
    for vendor in sorted(FLAVOURS):
        for state_no, state in enumerate(DEVICE_STATES):
            device_id = f"{vendor.upper()}{state_no}"
            channels = CHANNELS if state.get("kind") != "camera" else CHANNELS[:1]
            devices.append(
                {
                    "id": device_id,
                    "vendor": vendor,
                    **state,
                    "channels": [
                        {"id": f"{device_id}-C{i + 1}", **channel}
                        for i, channel in enumerate(channels)
                    ],
                }
            )
    return parse_scenario(
        {
            "seed": 5,
            "branches": [{"id": "SCH", "name": "模式网点", "hours": ALL_DAYS, "devices": devices}],
        }
    )


# -- requests, built by zeep from the shipped WSDLs (as vidaudit builds its own) ----------

_SERVICE_NAME = {
    "device": "devicemgmt",
    "media": "media",
    "recording": "recording",
    "search": "search",
    "replay": "replay",
}
_PROXIES: dict[str, Any] = {}


def _proxy(service: str) -> Any:
    if service not in _PROXIES:
        from onvif.client import ZeepAsyncClient

        from vidaudit.onvif.zeepclient import ZEEP_SETTINGS

        definition = SERVICES[_SERVICE_NAME[service]]
        client = ZeepAsyncClient(wsdl=str(WSDL_DIR / definition.wsdl), settings=ZEEP_SETTINGS)
        _PROXIES[service] = (client, client.create_service(definition.binding, "http://127.0.0.1/"))
    return _PROXIES[service]


def request_body(service: str, operation: str, params: dict[str, Any]) -> bytes:
    """The Body child zeep builds for ``operation`` with ``params`` (no envelope)."""
    _client, proxy = _proxy(service)
    envelope = proxy._binding.get(operation).create(**params).content
    body = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    return bytes(etree.tostring(body[0]))


@dataclass
class Exchange:
    service: str
    operation: str
    request: bytes
    status: int
    reply: bytes

    @property
    def where(self) -> str:
        return f"{self.service}/{self.operation}"


def call(dev: SimDevice, service: str, operation: str, params: dict[str, Any], auth: bool = True):  # type: ignore[no-untyped-def]
    body = request_body(service, operation, params)
    header = username_token(dev.plan.username, dev.plan.password, dev.now()) if auth else ""
    data = soap(body.decode(), header)
    path = dev.flavour.paths[service]
    request = HttpRequest("POST", path, path, "HTTP/1.1", {}, data)
    status, reply, _headers = dev._answer(request, parse_request(data))
    return Exchange(service, operation, body, status, reply)


def exercise(dev: SimDevice) -> Iterator[Exchange]:
    """Every operation of ``OPERATIONS`` on ``dev``, with every token it holds."""
    now = dev.now()
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    yield call(dev, "device", "GetSystemDateAndTime", {}, auth=False)
    yield call(dev, "device", "GetDeviceInformation", {})
    yield call(dev, "device", "GetServices", {"IncludeCapability": True})
    yield call(dev, "device", "GetServices", {"IncludeCapability": False})
    yield call(dev, "device", "GetServiceCapabilities", {})
    for category in ("All", "Device", "Media"):
        yield call(dev, "device", "GetCapabilities", {"Category": category})
    yield call(dev, "device", "GetScopes", {})
    yield call(dev, "media", "GetProfiles", {})
    yield call(dev, "media", "GetVideoSources", {})
    yield call(dev, "media", "GetServiceCapabilities", {})
    for ch in dev.channels:
        yield call(dev, "media", "GetProfile", {"ProfileToken": ch.tokens.profile})
        yield call(
            dev, "media", "GetStreamUri", {"StreamSetup": setup, "ProfileToken": ch.tokens.profile}
        )
        yield call(dev, "media", "GetSnapshotUri", {"ProfileToken": ch.tokens.profile})
    yield call(dev, "recording", "GetRecordings", {})
    yield call(dev, "recording", "GetRecordingJobs", {})
    yield call(dev, "recording", "GetServiceCapabilities", {})
    for ch in dev.channels:
        yield call(dev, "recording", "GetRecordingJobState", {"JobToken": ch.tokens.job})
    yield call(dev, "search", "GetServiceCapabilities", {})
    yield call(dev, "search", "GetRecordingSummary", {})
    for ch in dev.channels:
        yield call(
            dev, "search", "GetRecordingInformation", {"RecordingToken": ch.tokens.recording}
        )
        yield call(
            dev,
            "replay",
            "GetReplayUri",
            {"StreamSetup": setup, "RecordingToken": ch.tokens.recording},
        )
    yield call(dev, "replay", "GetReplayConfiguration", {})
    yield call(dev, "replay", "GetServiceCapabilities", {})
    if dev.plan.profile_s_only:
        # Every Profile G operation above answered ActionNotSupported; no search to page.
        return
    found = call(dev, "search", "FindRecordings", {"Scope": {}, "KeepAliveTime": "PT30S"})
    yield found
    token = _search_token(found)
    yield call(dev, "search", "GetSearchState", {"SearchToken": token})
    yield call(
        dev, "search", "GetRecordingSearchResults",
        {"SearchToken": token, "MaxResults": 2, "WaitTime": "PT1S"},
    )  # fmt: skip
    yield call(dev, "search", "GetRecordingSearchResults", {"SearchToken": token})
    yield call(dev, "search", "EndSearch", {"SearchToken": token})
    for forward in (True, False):
        start, end = now - dt.timedelta(days=3), now
        if not forward:
            start, end = end, start
        events = call(
            dev,
            "search",
            "FindEvents",
            {
                "StartPoint": start,
                "EndPoint": end,
                "Scope": {"IncludedRecordings": [ch.tokens.recording for ch in dev.channels]},
                "SearchFilter": topic_filter(
                    "RecordingHistory/Track/State", "RecordingHistory/Recording/State"
                ),
                "IncludeStartState": True,
                "KeepAliveTime": "PT30S",
            },
        )
        yield events
        token = _search_token(events)
        for _page in range(500):
            page = call(
                dev, "search", "GetEventSearchResults", {"SearchToken": token, "MaxResults": 100}
            )
            yield page
            if b"Completed" in page.reply:
                break
        yield call(dev, "search", "EndSearch", {"SearchToken": token})


def _search_token(exchange: Exchange) -> str:
    found = etree.fromstring(exchange.reply).find(".//{*}SearchToken")
    assert found is not None, f"{exchange.where}: no SearchToken in {exchange.reply[:300]!r}"
    return str(found.text)


def faults(dev: SimDevice) -> Iterator[Exchange]:
    """The SOAP faults the simulator answers with: refused credentials, unknown tokens,
    an unknown search, an unsupported operation."""
    yield call(dev, "device", "GetDeviceInformation", {}, auth=False)
    yield call(dev, "media", "GetSnapshotUri", {"ProfileToken": "no-such-profile"})
    yield call(dev, "recording", "GetRecordingJobState", {"JobToken": "no-such-job"})
    yield call(dev, "search", "GetRecordingSearchResults", {"SearchToken": "no-such-search"})
    yield call(dev, "device", "SetSystemFactoryDefault", {"FactoryDefault": "Soft"})


def schema_failures(exchanges: list[Exchange], flavour: str) -> list[str]:
    failures = []
    for exchange in exchanges:
        for what, data in (("request", exchange.request), ("reply", exchange.reply)):
            if what == "reply":
                if exchange.status != 200:
                    continue  # faults: checked by test_faults_are_soap12_faults
                found = schemas.problems_in_reply(data)
            else:
                found = schemas.problems(etree.fromstring(data))
            failures.extend(f"{exchange.where} {what} ({flavour}): {p}" for p in found)
    return failures


class Devices:
    """The scenario's devices, built as the fleet builds them but not listening: the
    replies are rendered through the device's whole request pipeline (authentication,
    dispatch, faults) without HTTP, which ``tests/sim/test_operations.py`` covers."""

    def __init__(self) -> None:
        plan = resolve(_scenario())
        stop = asyncio.Event()
        self._devices = {
            device.id: SimDevice(device, branch, plan.now, plan.seed, "127.0.0.1", 8000, 8554, stop)
            for branch, device in plan.devices()
        }

    def device(self, device_id: str) -> SimDevice:
        return self._devices[device_id]


@pytest.fixture(scope="module")
def fleet() -> Devices:
    return Devices()


@pytest.mark.parametrize("vendor", sorted(FLAVOURS))
def test_every_reply_validates(fleet: Devices, vendor: str) -> None:
    failures: list[str] = []
    served: set[tuple[str, str]] = set()
    for state_no in range(len(DEVICE_STATES)):
        dev = fleet.device(f"{vendor.upper()}{state_no}")
        exchanges = list(exercise(dev))
        served |= {(e.service, e.operation) for e in exchanges if e.status == 200}
        if dev.plan.profile_s_only:
            refused = [e.where for e in exchanges if e.status != 200]
            assert refused and all(
                w.split("/")[0] in {"recording", "search", "replay"} for w in refused
            )
        else:
            assert all(e.status == 200 for e in exchanges), [
                (e.where, e.reply[:300]) for e in exchanges if e.status != 200
            ]
        flavour = f"{vendor}, device {dev.plan.id}"
        failures.extend(schema_failures(exchanges, flavour))
    assert not failures, "\n".join(failures)
    # Every operation the simulator serves was rendered: a new one must be added above.
    assert served == set(OPERATIONS)


@pytest.mark.parametrize("vendor", sorted(FLAVOURS))
def test_faults_are_soap12_faults(fleet: Devices, vendor: str) -> None:
    dev = fleet.device(f"{vendor.upper()}0")
    profile_s = fleet.device(f"{vendor.upper()}3")
    exchanges = [*faults(dev), call(profile_s, "recording", "GetRecordingJobs", {})]
    expected = [
        ("NotAuthorized",),
        ("InvalidArgVal", "NoProfile"),
        ("InvalidArgVal", "NoRecordingJob"),
        ("InvalidArgVal", "InvalidToken"),
        ("ActionNotSupported",),
        ("ActionNotSupported",),
    ]
    for exchange, subcodes in zip(exchanges, expected, strict=True):
        assert exchange.status in (400, 401, 500), exchange.where
        document = etree.fromstring(exchange.reply)
        with pytest.raises(zeep.exceptions.Fault) as caught:
            # zeep's own SOAP 1.2 fault reader: Code/Value, Subcode chain, Reason/Text.
            _proxy("device")[1]._binding.process_error(document, None)
        fault = caught.value
        assert fault.code in ("env:Sender", "env:Receiver"), (exchange.where, vendor)
        assert fault.message, (exchange.where, vendor)
        names = tuple(q.localname for q in fault.subcodes or [])
        assert names == subcodes, (exchange.where, vendor, names)


def test_an_invalid_reply_fails_with_operation_flavour_and_message(fleet: Devices) -> None:
    # The check itself: the pre-fix simulator's GetRecordingJobs (trc:JobToken) must fail
    # with the operation, the flavour and libxml2's own message.
    dev = fleet.device("HIKVISION0")
    good = call(dev, "recording", "GetRecordingJobs", {})
    assert not schema_failures([good], "hikvision")
    broken = Exchange(
        good.service,
        good.operation,
        good.request,
        200,
        good.reply.replace(b"tt:JobToken>", b"trc:JobToken>"),
    )
    assert broken.reply != good.reply
    (first, *_rest) = schema_failures([broken], "hikvision, device HIKVISION0")
    assert first.startswith("recording/GetRecordingJobs reply (hikvision, device HIKVISION0)")
    assert "JobToken" in first and "This element is not expected" in first
