"""A small lab fleet covering every vendor flavour and device problem, and helpers to
drive it with onvif-zeep-async (the client the collector uses) or with raw SOAP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from onvif import ONVIFCamera

from vidaudit.sim import Scenario, parse_scenario
from vidaudit.sim.device import SimDevice

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
FIXTURES = SHARED / "fixtures" / "onvif" / "ex_onvif"

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

LAB: dict[str, Any] = {
    "seed": 11,
    "policy": {"retention_days": 30, "retention_days_by_role": {"vault": 90, "atm": 90}},
    "branches": [
        {
            "id": "LAB01",
            "name": "实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    "id": "HIK",
                    "vendor": "hikvision",
                    "channels": [
                        {
                            "id": "HIK-C1",
                            "role": "counter",
                            "gaps": [{"business_days_ago": 1, "at": "10:05", "minutes": 47}],
                        },
                        {"id": "HIK-C2", "role": "lobby", "pattern": "business_hours"},
                        {
                            "id": "HIK-C3",
                            "role": "cash_area",
                            "pattern": "business_hours_no_margin",
                        },
                        {
                            "id": "HIK-C4",
                            "role": "vault",
                            "stopped_days_ago": 2.5,
                            "picture": "black",
                        },
                    ],
                },
                {
                    "id": "DAH",
                    "vendor": "dahua",
                    "clock_drift_s": 120,
                    "channel_defaults": {"random_gaps": 3},
                    "channels": [
                        {"id": "DAH-C1", "role": "counter"},
                        {"id": "DAH-C2", "role": "entrance", "retention_days": 12},
                    ],
                },
                {
                    "id": "UNV",
                    "vendor": "uniview",
                    "channels": [
                        {"id": "UNV-C1", "role": "counter"},
                        {"id": "UNV-C2", "role": "atm"},
                    ],
                },
                {
                    "id": "AXIS",
                    "kind": "camera",
                    "vendor": "axis",
                    "posix_tz": "BRT3",
                    "channels": [{"id": "AXIS-C1", "role": "atm", "audio": True}],
                },
                {
                    "id": "MS",
                    "kind": "camera",
                    "vendor": "milesight",
                    "time_report": "local_only",
                    "channels": [{"id": "MS-C1", "role": "atm"}],
                },
                {"id": "GEN", "profile_s_only": True, "channels": 2},
                {"id": "BADPW", "vendor": "dahua", "wrong_password": True, "channels": 1},
                {"id": "OFF", "offline": True, "channels": 1},
                {"id": "DRIFT", "vendor": "hikvision", "clock_drift_s": -900, "channels": 1},
            ],
        }
    ],
}


def lab_scenario(**changes: Any) -> Scenario:
    return parse_scenario(LAB | changes)


def fixture_file(name: str) -> Path:
    """A captured device response; skip when ../shared is absent (never in CI)."""
    path = FIXTURES / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing; CI checks out shared/ beside the repository")
        pytest.skip(f"{path} is absent: check out shared/ beside the repository to run this")
    return path


@asynccontextmanager
async def camera(
    dev: SimDevice, password: str | None = None, adjust_time: bool = False
) -> AsyncIterator[ONVIFCamera]:
    cam = ONVIFCamera(
        dev.host,
        dev.port,
        dev.plan.username,
        password or dev.plan.password,
        adjust_time=adjust_time,
    )
    try:
        yield cam
    finally:
        await cam.close()


STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}


def topic_filter(*topics: str) -> dict[str, Any]:
    """A SearchFilter for zeep: EventFilter is xs:any, so the element is built by hand."""
    element = etree.Element(
        "{http://docs.oasis-open.org/wsn/b-2}TopicExpression",
        Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet",
        nsmap={"tns1": "http://www.onvif.org/ver10/topics"},
    )
    element.text = "|".join(f"tns1:{t}" for t in topics)
    return {"_value_1": [element]}


# --------------------------------------------------------------------------- raw SOAP

NS = {
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "trc": "http://www.onvif.org/ver10/recording/wsdl",
    "trp": "http://www.onvif.org/ver10/replay/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
}


def username_token(
    user: str, password: str, created: dt.datetime, nonce: bytes | None = None
) -> str:
    nonce = nonce or os.urandom(16)
    stamp = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest())
    return (
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        'oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/'
        'wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>'
        f"<wsse:Username>{user}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
        f'username-token-profile-1.0#PasswordDigest">{digest.decode()}</wsse:Password>'
        '<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
        f'soap-message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def soap(body: str, header: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope '
        'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        + " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
        + f"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


Now = Callable[[], dt.datetime]
