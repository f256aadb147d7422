"""How vendor-API readers talk to recorders, apart from the client itself: the settings
import this without pulling in aiohttp (``review`` reads the settings and knows no HTTP)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HttpSettings(BaseModel):
    """How vendor-API readers talk to recorders.  Every number has a bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whole-call budget for one request: connect + send + read the full body.
    call_timeout_s: float = Field(10.0, gt=0, le=300)
    #: TCP connect (and TLS handshake); longer means ``unreachable``.
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    #: Budget for everything one device does (counted from ``open``); None: the caller's.
    device_deadline_s: float | None = Field(60.0, gt=0, le=3600)
    #: Largest reply accepted; refused while reading, never held.
    max_response_bytes: int = Field(4 * 1024 * 1024, ge=16 * 1024, le=256 * 1024 * 1024)
    #: Verify TLS certificates of https recorders (almost all are self-signed).
    verify_tls: bool = False
    max_connections: int = Field(256, ge=1, le=10_000)
    #: Requests in flight to one recorder; NVR web servers serve a handful at a time.
    max_connections_per_host: int = Field(4, ge=1, le=64)
    keepalive_s: float = Field(15.0, ge=0, le=300)
