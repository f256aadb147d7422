"""Device-side authentication: WS-UsernameToken (PasswordDigest) and HTTP Digest.

What real devices do, and what the ONVIF core spec asks (section "Authentication"):
credentials on the HTTP level are checked first; a request with no credentials at all
gets HTTP 401 with a Digest challenge; a refused UsernameToken gets a SOAP fault
``env:Sender / ter:NotAuthorized`` (HTTP 400 per the spec; some firmware answer 401).
The token's ``Created`` is checked against the *device's own* clock with a replay
window, which is why a client must follow a drifted device's clock (``adjust_time``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable

from lxml import etree  # type: ignore[import-untyped]

from vidaudit.sim.soap import WSSE, WSU, SoapFault

#: Accept ``Created`` within this much of the device clock (many devices use ±5 min).
REPLAY_WINDOW = dt.timedelta(minutes=5)
NONCE_CACHE_SIZE = 4096


class SeenCache:
    """Bounded memory of recently seen keys (nonces), each forgotten after ``ttl``."""

    def __init__(self, max_items: int, ttl: dt.timedelta) -> None:
        self._items: OrderedDict[Hashable, dt.datetime] = OrderedDict()
        self._max = max_items
        self._ttl = ttl

    def add_if_new(self, key: Hashable, now: dt.datetime) -> bool:
        """True when ``key`` was not seen within ``ttl`` (and remember it); False on reuse."""
        while self._items:
            oldest, when = next(iter(self._items.items()))
            if now - when <= self._ttl and len(self._items) < self._max:
                break
            del self._items[oldest]
        if key in self._items:
            return False
        self._items[key] = now
        return True

    def __len__(self) -> int:
        return len(self._items)


def not_authorized(reason: str, status: int, challenge: str | None = None) -> SoapFault:
    headers = (("WWW-Authenticate", challenge),) if challenge else ()
    return SoapFault("env:Sender", ("ter:NotAuthorized",), reason, status=status, headers=headers)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA1(nonce + created + password)), WS-Security UsernameToken Profile 1.0."""
    raw = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
    return base64.b64encode(raw).decode()


_DIGEST_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_digest_header(value: str) -> dict[str, str] | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _DIGEST_PARAM.finditer(rest)
    }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RFC 7616 MD5 is what devices speak


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: RFC 7616 algorithms a simulated device may offer (newer Hikvision firmware: SHA-256).
DIGESTS = {"MD5": _md5, "SHA-256": _sha256}


class DeviceAuth:
    def __init__(
        self,
        username: str,
        password: str,
        realm: str,
        clock: Callable[[], dt.datetime],
        secret: bytes,
        ws_fail_status: int = 400,
        algorithm: str = "MD5",
    ) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self._clock = clock
        self._secret = secret
        self._ws_fail_status = ws_fail_status
        self.algorithm = algorithm
        self._hash = DIGESTS[algorithm]
        self._nonces = SeenCache(NONCE_CACHE_SIZE, 2 * REPLAY_WINDOW)
        self._digest_uses = SeenCache(NONCE_CACHE_SIZE, 2 * REPLAY_WINDOW)

    # ------------------------------------------------------------------ HTTP Digest
    def challenge(self, stale: bool = False) -> str:
        stamp = f"{int(self._clock().timestamp()):x}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        value = (
            f'Digest realm="{self.realm}", qop="auth", algorithm={self.algorithm}, '
            f'nonce="{stamp}{mac}"'
        )
        return value + (", stale=true" if stale else "")

    def _nonce_fresh(self, nonce: str) -> bool | None:
        """True fresh, False ours but expired, None forged."""
        stamp, mac = nonce[:-24], nonce[-24:]
        expected = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not stamp or not hmac.compare_digest(mac, expected):
            return None
        try:
            issued = dt.datetime.fromtimestamp(int(stamp, 16), dt.UTC)
        except ValueError:
            return None
        return abs(self._clock() - issued) <= REPLAY_WINDOW

    def check_http_digest(self, method: str, target: str, header: str) -> None:
        """Raise a 401 fault (with a fresh challenge) unless ``header`` authenticates."""
        params = parse_digest_header(header)
        if params is None:
            raise not_authorized("only HTTP Digest is accepted", 401, self.challenge())
        nonce = params.get("nonce", "")
        fresh = self._nonce_fresh(nonce)
        if fresh is None:
            raise not_authorized("unknown digest nonce", 401, self.challenge())
        if not fresh:
            raise not_authorized("stale digest nonce", 401, self.challenge(stale=True))
        if params.get("algorithm", "MD5").upper() != self.algorithm or params.get("qop") != "auth":
            raise not_authorized(
                f"digest needs algorithm={self.algorithm}, qop=auth", 401, self.challenge()
            )
        if params.get("uri") != target or params.get("realm") != self.realm:
            raise not_authorized("digest uri or realm mismatch", 401, self.challenge())
        nc, cnonce = params.get("nc", ""), params.get("cnonce", "")
        h = self._hash
        ha1 = h(f"{params.get('username', '')}:{self.realm}:{self.password}")
        ha2 = h(f"{method}:{target}")
        expected = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        if params.get("username") != self.username or not hmac.compare_digest(
            params.get("response", ""), expected
        ):
            raise not_authorized("wrong user name or password", 401, self.challenge())
        if not self._digest_uses.add_if_new((nonce, nc, cnonce), self._clock()):
            raise not_authorized("digest nonce count reused", 401, self.challenge())

    # ------------------------------------------------------------------ WS-UsernameToken
    @staticmethod
    def username_token(header: etree._Element | None) -> etree._Element | None:
        if header is None:
            return None
        security = header.find(f"{{{WSSE}}}Security")
        if security is None:
            return None
        return security.find(f"{{{WSSE}}}UsernameToken")

    def check_username_token(self, token: etree._Element) -> None:
        fail = self._ws_fail_status
        user = token.findtext(f"{{{WSSE}}}Username") or ""
        password_el = token.find(f"{{{WSSE}}}Password")
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if password_el is None or user != self.username:
            raise not_authorized("Sender not Authorized", fail)
        supplied = (password_el.text or "").strip()
        if (password_el.get("Type") or "").endswith("#PasswordDigest"):
            if not nonce_text or not created:
                raise not_authorized("PasswordDigest needs Nonce and Created", fail)
            try:
                nonce = base64.b64decode(nonce_text.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise not_authorized("Nonce is not base64", fail) from None
            expected = password_digest(nonce, created.strip(), self.password)
            if not hmac.compare_digest(supplied, expected):
                raise not_authorized("Sender not Authorized", fail)
        else:
            nonce = (nonce_text or "").encode()
            if not hmac.compare_digest(supplied.encode(), self.password.encode()):
                raise not_authorized("Sender not Authorized", fail)
        if created:
            now = self._clock()
            try:
                when = dt.datetime.fromisoformat(created.strip())
            except ValueError:
                raise not_authorized("Created is not an xs:dateTime", fail) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            # Checked against the device's own clock: a drifted device refuses an
            # accurate client, exactly like the real thing.
            if abs(when - now) > REPLAY_WINDOW:
                raise not_authorized("Created outside the device's replay window", fail)
            if nonce and not self._nonces.add_if_new(nonce, now):
                raise not_authorized("Nonce already used", fail)


def has_credentials(token: etree._Element | None, authorization: str | None) -> bool:
    return token is not None or bool(authorization)


__all__ = ["REPLAY_WINDOW", "DeviceAuth", "SeenCache", "password_digest"]
