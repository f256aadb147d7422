"""Dahua HTTP API (``/cgi-bin/*.cgi``, digest auth, ``key=value`` replies).

    async with HttpPool(HttpSettings()) as pool:
        async with pool.open("http://nvr1.fy002.bank.example", credentials) as http:
            reading = await read_recorder(DahuaDevice(http, zone), ReadRequest((1,), start))

A protocol package: no storage, no rules.  ``parse`` reads replies (pure), ``client``
makes the calls, ``reader`` turns them into ``vidaudit.readings.RecorderReading``.
"""

from vidaudit.dahua.client import DahuaDevice
from vidaudit.dahua.reader import read_recorder

__all__ = ["DahuaDevice", "read_recorder"]
