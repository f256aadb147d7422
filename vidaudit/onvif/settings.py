"""Knobs of the ONVIF device layer, validated and bounded (Frigate's config style)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OnvifSettings(BaseModel):
    """How the device layer talks to devices.  Every number has a bound.

    The defaults replace onvif-zeep-async's own (90 s total / 30 s connect / 90 s read per
    service, unbounded response size): at fleet scale a single trickling device must not
    hold a worker for 90 s, and a broken NVR must not make us buffer hundreds of MB.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whole-call budget for one SOAP request: connect + send + read the full body.
    call_timeout_s: float = Field(10.0, gt=0, le=300)
    #: TCP connect (and TLS handshake) budget; a device that does not answer SYN in this
    #: time is reported ``unreachable``.
    connect_timeout_s: float = Field(3.0, gt=0, le=60)
    #: Budget for everything one ``open_device`` block does; ``None`` leaves it to the
    #: caller (who may also wrap the block in ``asyncio.timeout``).
    device_deadline_s: float | None = Field(60.0, gt=0, le=3600)
    #: Largest response body accepted; enforced while reading, so a larger body is
    #: refused without being held in memory.
    max_response_bytes: int = Field(4 * 1024 * 1024, ge=16 * 1024, le=256 * 1024 * 1024)
    #: Build WS-Security ``Created`` from the device clock (read by GetSystemDateAndTime)
    #: so a device drifted by hours still accepts our UsernameToken.
    adjust_time: bool = True
    #: Answer an HTTP ``WWW-Authenticate: Digest`` challenge (firmware that wants HTTP
    #: digest instead of, or on top of, WS-Security).
    http_digest: bool = True
    #: Refuse a well-formed SOAP reply whose body element is not ``<Operation>Response``
    #: (zeep is lenient: a reply in the wrong namespace otherwise parses "fine" and
    #: comes out empty).
    strict_response_element: bool = True
    #: Rewrite the host:port of XAddrs the device advertises to the configured target's
    #: (NVRs behind a port-forward advertise their LAN address).
    xaddr_host_override: bool = False
    #: Verify TLS certificates of https devices; NVRs almost always use self-signed ones.
    verify_tls: bool = False
    #: Connection pool shared by every device of one ``OnvifPool``.
    max_connections: int = Field(256, ge=1, le=10_000)
    max_connections_per_host: int = Field(4, ge=1, le=64)
    keepalive_s: float = Field(15.0, ge=0, le=300)
    #: Recording/event searches: results asked per GetXSearchResults page, how long the
    #: device may wait to fill a page, and how many pages we poll before giving up.
    search_page_size: int = Field(100, ge=1, le=10_000)
    search_wait_s: float = Field(1.0, ge=0, le=30)
    search_max_pages: int = Field(200, ge=1, le=10_000)
    #: ``KeepAliveTime`` sent with FindRecordings/FindEvents: the device drops the
    #: search if we go silent for this long (so an abandoned search frees itself).
    search_keepalive_s: int = Field(30, ge=1, le=600)
    #: Also read each recording job's state (one GetRecordingJobState per job).
    job_states: bool = True
