"""HTTP digest as a SIP registrar checks it (RFC 3261 §22.4, RFC 2617, MD5).

GB/T 28181 §9.1.2: a device registers with its 20-digit ID as the user name and the
platform's password; the platform answers 401 with a challenge, then checks the
``Authorization`` of the second REGISTER.  Nonces are stateless (a time stamp and an HMAC
of it under a per-process secret), so a flood of first REGISTERs costs no memory; they
expire after ``nonce_ttl_s`` and a restart invalidates them (the device is simply
challenged again).  ``qop=auth`` is offered and answers without qop (RFC 2069, older
firmware) are accepted as well.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_PAIR = re.compile(r'([A-Za-z][A-Za-z0-9-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def parse_digest(header: str) -> dict[str, str] | None:
    """``Digest a="b", c=d`` -> ``{"a": "b", "c": "d"}`` (names lower-cased); None when
    the header is not a Digest one."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    out: dict[str, str] = {}
    for name, value in _PAIR.findall(rest):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        out[name.lower()] = value
    return out


@dataclass(frozen=True)
class DigestVerdict:
    ok: bool
    #: why not, for the log (never the password or the response hash)
    reason: str = ""
    #: the nonce was ours but too old: challenge again with ``stale=true``
    stale: bool = False
    username: str | None = None


class DigestRealm:
    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.realm = realm
        self._secret = secret
        self._ttl = nonce_ttl_s
        self._clock = clock

    def _nonce(self, issued: int) -> str:
        stamp = f"{issued:x}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return stamp + mac

    def challenge(self, *, stale: bool = False) -> str:
        nonce = self._nonce(int(self._clock()))
        value = f'Digest realm="{self.realm}", nonce="{nonce}", qop="auth", algorithm=MD5'
        return value + (", stale=true" if stale else "")

    def _nonce_age(self, nonce: str) -> float | None:
        """Seconds since we issued ``nonce``; None when it is not one of ours."""
        stamp = nonce[:-24]
        if not stamp or len(nonce) > 64:
            return None
        try:
            issued = int(stamp, 16)
        except ValueError:
            return None
        if not hmac.compare_digest(self._nonce(issued), nonce):
            return None
        return self._clock() - issued

    def verify(
        self, method: str, authorization: str, *, username: str, password: str
    ) -> DigestVerdict:
        fields = parse_digest(authorization)
        if fields is None:
            return DigestVerdict(False, "not a Digest Authorization")
        given_user = fields.get("username")
        if given_user != username:
            return DigestVerdict(False, "user name is not the device ID", username=given_user)
        if fields.get("realm") != self.realm:
            return DigestVerdict(False, "wrong realm", username=given_user)
        algorithm = fields.get("algorithm", "MD5").upper()
        if algorithm != "MD5":
            return DigestVerdict(False, f"algorithm {algorithm} not offered", username=given_user)
        nonce, uri, response = fields.get("nonce", ""), fields.get("uri"), fields.get("response")
        if uri is None or response is None:
            return DigestVerdict(False, "incomplete Authorization", username=given_user)
        age = self._nonce_age(nonce)
        if age is None:
            return DigestVerdict(False, "unknown nonce", stale=True, username=given_user)
        if age > self._ttl or age < -5:
            return DigestVerdict(False, "nonce expired", stale=True, username=given_user)
        ha1 = md5_hex(f"{username}:{self.realm}:{password}")
        ha2 = md5_hex(f"{method}:{uri}")
        qop = fields.get("qop")
        if qop is None:
            expected = md5_hex(f"{ha1}:{nonce}:{ha2}")
        elif qop.lower() == "auth":
            nc, cnonce = fields.get("nc", ""), fields.get("cnonce", "")
            if not nc or not cnonce:
                return DigestVerdict(False, "qop=auth without nc/cnonce", username=given_user)
            expected = md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        else:
            return DigestVerdict(False, f"qop {qop} not offered", username=given_user)
        if not hmac.compare_digest(expected, response.lower()):
            return DigestVerdict(False, "wrong password", username=given_user)
        return DigestVerdict(True, username=given_user)


__all__ = ["DigestRealm", "DigestVerdict", "md5_hex", "parse_digest"]
