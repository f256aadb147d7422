"""ONVIF operations, one module per service; each handler renders a response body."""

from __future__ import annotations

from vidaudit.sim.handlers import device_mgmt, media, recording, replay, search
from vidaudit.sim.handlers.base import Handler

#: (service, operation) -> handler.  The service comes from the request body's namespace.
OPERATIONS: dict[tuple[str, str], Handler] = {
    **{("device", name): h for name, h in device_mgmt.OPERATIONS.items()},
    **{("media", name): h for name, h in media.OPERATIONS.items()},
    **{("recording", name): h for name, h in recording.OPERATIONS.items()},
    **{("search", name): h for name, h in search.OPERATIONS.items()},
    **{("replay", name): h for name, h in replay.OPERATIONS.items()},
}

#: Operations anyone may call (ONVIF core: GetSystemDateAndTime is PRE_AUTH).
NO_AUTH = frozenset({("device", "GetSystemDateAndTime")})

#: Services a Profile-S-only device does not have.
PROFILE_G_SERVICES = frozenset({"recording", "search", "replay"})

__all__ = ["NO_AUTH", "OPERATIONS", "PROFILE_G_SERVICES", "Handler"]
