"""Hikvision ISAPI: the recorder's own HTTP API (digest auth, XML by local name).

    from vidaudit.devicehttp.client import HttpPool, HttpSettings
    from vidaudit.isapi import IsapiDevice, ReadRequest, read_recorder

    async with HttpPool(HttpSettings()) as pool:
        async with pool.open("http://nvr1.fy001.bank.example", credentials) as http:
            reading = await read_recorder(IsapiDevice(http), ReadRequest((1, 2), start))

A protocol package: no storage, no rules.  ``parse`` reads replies (pure), ``client``
makes the calls, ``reader`` turns them into ``vidaudit.readings.RecorderReading``.
Every failure is a ``vidaudit.errors.DeviceError`` with a kind.
"""

from vidaudit.isapi.client import IsapiDevice
from vidaudit.isapi.reader import read_recorder
from vidaudit.readings import ReadRequest

__all__ = ["IsapiDevice", "ReadRequest", "read_recorder"]
