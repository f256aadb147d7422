"""Authentication the way devices do it: WS-UsernameToken on the device's own clock,
nonce replay refused, HTTP Digest as the alternative, GetSystemDateAndTime open."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import aiohttp
import pytest
import zeep.exceptions
from onvif.exceptions import ONVIFAuthError

from tests.sim.conftest import camera, lab_scenario, soap, username_token
from vidaudit.sim import running_fleet
from vidaudit.sim.auth import SeenCache

pytestmark = pytest.mark.timeout(60)
TIMEOUT = aiohttp.ClientTimeout(total=10)
INFO = soap("<tds:GetDeviceInformation/>")


async def post(
    url: str, body: bytes, **kwargs: object
) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    async with (
        aiohttp.ClientSession(**kwargs) as http,
        http.post(  # type: ignore[arg-type]
            url, data=body, timeout=TIMEOUT, headers={"Content-Type": "application/soap+xml"}
        ) as resp,
    ):
        return resp.status, await resp.text(), resp.headers


async def test_wrong_password_is_not_authorized() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("BADPW")
        assert fleet.truth["devices"]["BADPW"]["expected_error"] == "auth"
        async with asyncio.timeout(20), camera(dev, password=dev.plan.configured_password) as cam:
            dm = await cam.create_devicemgmt_service()
            with pytest.raises(zeep.exceptions.Fault) as caught:
                await dm.GetDeviceInformation()
            assert [q.localname for q in caught.value.subcodes] == ["NotAuthorized"]
            # The clock stays readable without credentials, as the spec demands.
            assert (await dm.GetSystemDateAndTime()).UTCDateTime is not None
        token = username_token(dev.plan.username, dev.plan.configured_password, dev.now())
        status, text, _ = await post(dev.device_url, soap("<tds:GetDeviceInformation/>", token))
        assert status == 400 and "ter:NotAuthorized" in text  # ONVIF core: HTTP 400
        hik = fleet.device("HIK")  # Hikvision flavour answers 401 instead
        token = username_token(hik.plan.username, "wrong", hik.now())
        status, text, _ = await post(hik.device_url, soap("<tds:GetDeviceInformation/>", token))
        assert status == 401 and "ter:NotAuthorized" in text


async def test_stale_created_is_refused_against_the_device_clock() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("DAH")  # clock +120 s
        good = username_token(dev.plan.username, dev.plan.password, dev.now())
        assert (await post(dev.device_url, soap("<tds:GetDeviceInformation/>", good)))[0] == 200
        stale = username_token(
            dev.plan.username, dev.plan.password, dev.now() - dt.timedelta(minutes=6)
        )
        status, text, _ = await post(dev.device_url, soap("<tds:GetDeviceInformation/>", stale))
        assert status == 400 and "ter:NotAuthorized" in text
        future = username_token(
            dev.plan.username, dev.plan.password, dev.now() + dt.timedelta(minutes=6)
        )
        assert (await post(dev.device_url, soap("<tds:GetDeviceInformation/>", future)))[0] == 400


async def test_replayed_nonce_is_refused() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("UNV")
        nonce = os.urandom(16)
        token = username_token(dev.plan.username, dev.plan.password, dev.now(), nonce)
        body = soap("<tds:GetDeviceInformation/>", token)
        assert (await post(dev.device_url, body))[0] == 200
        status, text, _ = await post(dev.device_url, body)
        assert status == 400 and "ter:NotAuthorized" in text


async def test_no_credentials_get_a_digest_challenge() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("UNV")
        status, text, headers = await post(dev.device_url, INFO)
        assert status == 401 and "ter:NotAuthorized" in text
        assert headers["WWW-Authenticate"].startswith("Digest ")
        assert 'qop="auth"' in headers["WWW-Authenticate"]
        status, text, _ = await post(dev.device_url, soap("<tds:GetSystemDateAndTime/>"))
        assert status == 200 and "UTCDateTime" in text


async def test_http_digest_right_and_wrong() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("UNV")
        right = (aiohttp.DigestAuthMiddleware(dev.plan.username, dev.plan.password),)
        status, text, _ = await post(dev.device_url, INFO, middlewares=right)
        assert status == 200 and "<tds:Manufacturer>Uniview</tds:Manufacturer>" in text
        wrong = (aiohttp.DigestAuthMiddleware(dev.plan.username, "nope"),)
        status, text, headers = await post(dev.device_url, INFO, middlewares=wrong)
        assert status == 401 and "WWW-Authenticate" in headers
        # A digest response replayed with the same nonce count is refused.
        async with aiohttp.ClientSession(middlewares=right) as http:
            async with http.post(dev.device_url, data=INFO, timeout=TIMEOUT) as resp:
                assert resp.status == 200
                sent = resp.request_info.headers["Authorization"]
            async with (
                aiohttp.ClientSession() as raw,
                raw.post(
                    dev.device_url, data=INFO, timeout=TIMEOUT, headers={"Authorization": sent}
                ) as resp,
            ):
                assert resp.status == 401


async def test_snapshot_needs_http_digest() -> None:
    async with running_fleet(lab_scenario()) as fleet:
        dev = fleet.device("HIK")
        url = dev.snapshot_url(dev.channels[0])
        async with aiohttp.ClientSession() as http, http.get(url, timeout=TIMEOUT) as resp:
            assert resp.status == 401
        async with asyncio.timeout(20), camera(dev) as cam:
            await cam.update_xaddrs()
            profile = dev.channels[0].tokens.profile
            assert (await cam.get_snapshot(profile))[:2] == b"\xff\xd8"
            cam.passwd = "wrong"  # the snapshot (URI cached) uses HTTP Digest with these
            with pytest.raises(ONVIFAuthError):
                await cam.get_snapshot(profile)


def test_nonce_cache_is_bounded_and_forgets() -> None:
    cache = SeenCache(max_items=3, ttl=dt.timedelta(seconds=10))
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert cache.add_if_new("a", t0) and not cache.add_if_new("a", t0)
    for key in "bcde":
        cache.add_if_new(key, t0)
    assert len(cache) <= 3
    assert cache.add_if_new("b", t0 + dt.timedelta(seconds=30))  # forgotten after ttl
