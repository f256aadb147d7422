"""Probe one recorder through its vendor's own HTTP API (ISAPI, Dahua) instead of ONVIF.

The readers in ``vidaudit.isapi`` / ``vidaudit.dahua`` return a ``RecorderReading``; the
probe turns a failure of the required calls (clock, identity) into a device that is
down with its error kind, exactly as the ONVIF probe does, so the rules do not care
which road the recorder was read by.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from vidaudit.collector.fleet import DeviceProbe, ProbeRequest
from vidaudit.compliance.identity import DeviceIdentity
from vidaudit.compliance.model import DeviceStatus, ErrorKind
from vidaudit.dahua import DahuaDevice
from vidaudit.dahua import read_recorder as read_dahua
from vidaudit.devicehttp.client import HttpPool
from vidaudit.errors import DeviceError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api
from vidaudit.isapi import IsapiDevice
from vidaudit.isapi import read_recorder as read_isapi
from vidaudit.readings import ReadRequest, RecorderReading


async def read_vendor(
    pool: HttpPool, request: ProbeRequest, resolver: SecretResolver, lookback_days: int
) -> tuple[RecorderReading, str | None]:
    """The vendor API reading of one configured recorder, and over https the sha256 of
    the certificate it presented (raises ``DeviceError``)."""
    device = request.device
    zone = ZoneInfo(request.timezone)
    numbers = tuple(sorted({c.ref.channel for c in device.channels if c.ref.channel is not None}))
    read = ReadRequest(
        numbers,
        request.window_start,
        lookback_days=lookback_days,
        fallback_offset=request.now.astimezone(zone).utcoffset() or dt.timedelta(),
        known=request.known,
    )
    async with pool.open(str(device.url), resolver.credentials(device)) as http:
        if device.api is Api.ISAPI:
            reading = await read_isapi(IsapiDevice(http), read)
        else:
            reading = await read_dahua(DahuaDevice(http, zone), read)
        return reading, http.peer_certificate


async def probe_vendor(
    pool: HttpPool, request: ProbeRequest, resolver: SecretResolver, lookback_days: int
) -> DeviceProbe:
    device = request.device
    try:
        reading, certificate = await read_vendor(pool, request, resolver, lookback_days)
    except DeviceError as err:
        return DeviceProbe(DeviceStatus(device.id, False, ErrorKind(err.kind), err.message))
    drift = reading.clock.drift
    return DeviceProbe(
        DeviceStatus(
            device.id,
            True,
            clock_drift_s=None if drift is None else round(drift.total_seconds(), 1),
        ),
        info=reading.info,
        services=[device.api.value],
        reading=reading,
        # pinned like an ONVIF recorder's (R6.identity): the serial, and over https
        # the certificate
        identity=DeviceIdentity(
            serial=reading.info.serial.strip() or None, cert_sha256=certificate
        ),
    )
