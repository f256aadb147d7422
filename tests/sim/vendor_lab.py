"""A small fleet of recorders read through their vendor APIs, one quirk per device."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from vidaudit.devicehttp.client import HttpDevice, HttpPool, HttpSettings
from vidaudit.inventory.schema import Credentials
from vidaudit.sim import Scenario, parse_scenario
from vidaudit.sim.device import SimDevice

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

VENDOR_LAB: dict[str, Any] = {
    "seed": 21,
    "policy": {"retention_days": 30, "retention_days_by_role": {"vault": 90}},
    "branches": [
        {
            "id": "VLAB",
            "name": "厂商接口实验网点",
            "hours": ALL_DAYS,
            "devices": [
                {
                    # current firmware: isapi.org namespace, local time with offset
                    "id": "HIK",
                    "vendor": "hikvision",
                    "api": "isapi",
                    "clock_drift_s": 75,
                    "vendor_api": {"file_minutes": 30},
                    "channels": [
                        {
                            "id": "HIK-C1",
                            "role": "counter",
                            "gaps": [{"business_days_ago": 2, "at": "10:05", "minutes": 47}],
                        },
                        {"id": "HIK-C2", "role": "lobby", "pattern": "business_hours"},
                        {"id": "HIK-C3", "role": "vault", "stopped_days_ago": 3.5},
                        {
                            "id": "HIK-C4",
                            "role": "entrance",
                            "retention_days": 12,
                            "camera_offline": True,
                        },
                    ],
                },
                {
                    # older firmware: hikvision.com namespace, no offset, SHA-256 digest,
                    # a failed disk beside a good one
                    "id": "HIKOLD",
                    "vendor": "hikvision",
                    "api": "isapi",
                    "vendor_api": {
                        "namespace": "hikvision",
                        "time_format": "naive",
                        "digest": "SHA-256",
                        "page_cap": 7,
                        "disks": [{"status": "ok"}, {"status": "error"}],
                    },
                    "channels": [{"id": "HIKOLD-C1", "role": "counter", "retention_days": 45}],
                },
                {
                    "id": "HIKZ",
                    "vendor": "hikvision",
                    "api": "isapi",
                    "vendor_api": {"time_format": "utc", "disks": [{"status": "unformatted"}]},
                    "channels": [{"id": "HIKZ-C1", "role": "counter"}],
                },
                {
                    "id": "DAH",
                    "vendor": "dahua",
                    "api": "dahua",
                    "clock_drift_s": -40,
                    "vendor_api": {"empty_find_400": True, "disks": []},
                    "channels": [
                        {"id": "DAH-C1", "role": "counter", "random_gaps": 2},
                        {"id": "DAH-C2", "role": "entrance", "retention_days": 8},
                        {"id": "DAH-C3", "role": "lobby", "stopped_days_ago": 40},
                    ],
                },
            ],
        }
    ],
}


def vendor_lab(**changes: Any) -> Scenario:
    return parse_scenario(VENDOR_LAB | changes)


@asynccontextmanager
async def vendor_http(dev: SimDevice, password: str | None = None) -> AsyncIterator[HttpDevice]:
    creds = Credentials(
        username=dev.plan.username, password=SecretStr(password or dev.plan.password)
    )
    async with (
        HttpPool(HttpSettings(call_timeout_s=5, device_deadline_s=60)) as pool,
        pool.open(f"http://{dev.host}:{dev.port}", creds) as http,
    ):
        yield http


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
