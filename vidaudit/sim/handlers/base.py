"""What a handler sees: the device it runs on and the parsed request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vidaudit.sim.soap import SoapRequest

if TYPE_CHECKING:
    from vidaudit.sim.device import SimDevice

#: Renders the inside of ``env:Body`` or raises ``SoapFault``.
Handler = Callable[["SimDevice", SoapRequest], str]
