"""The registrar's digest check (RFC 2617 MD5, with and without qop=auth)."""

from __future__ import annotations

import hashlib

from vidaudit.gb28181.digest import DigestRealm, parse_digest

USER = "34020000001110000001"


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def answer(challenge: str, password: str, *, qop: bool, user: str = USER) -> str:
    """What a device sends back (computed here independently of vidaudit's code)."""
    fields = parse_digest(challenge)
    assert fields is not None
    realm, nonce, uri = fields["realm"], fields["nonce"], "sip:34020000002000000001@3402000000"
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"REGISTER:{uri}")
    if qop:
        response = md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}")
        extra = ', qop=auth, nc=00000001, cnonce="c0ffee"'
    else:
        response, extra = md5(f"{ha1}:{nonce}:{ha2}"), ""
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5{extra}'
    )


def realm(now: list[float]) -> DigestRealm:
    return DigestRealm("3402000000", b"k" * 32, nonce_ttl_s=60, clock=lambda: now[0])


def test_the_right_password_passes_with_and_without_qop() -> None:
    clock = [1_000_000.0]
    checker = realm(clock)
    for qop in (True, False):
        reply = answer(checker.challenge(), "pw", qop=qop)
        assert checker.verify("REGISTER", reply, username=USER, password="pw").ok


def test_wrong_password_user_or_forged_nonce_fail() -> None:
    clock = [1_000_000.0]
    checker = realm(clock)
    challenge = checker.challenge()
    wrong = checker.verify(
        "REGISTER", answer(challenge, "no", qop=True), username=USER, password="pw"
    )
    assert not wrong.ok and wrong.reason == "wrong password" and not wrong.stale
    other = checker.verify(
        "REGISTER",
        answer(challenge, "pw", qop=True, user="34020000001110000002"),
        username=USER,
        password="pw",
    )
    assert not other.ok and "user name" in other.reason
    forged = challenge.replace('nonce="', 'nonce="0')
    assert not checker.verify(
        "REGISTER", answer(forged, "pw", qop=True), username=USER, password="pw"
    ).ok


def test_an_old_nonce_is_stale_not_wrong() -> None:
    clock = [1_000_000.0]
    checker = realm(clock)
    reply = answer(checker.challenge(), "pw", qop=True)
    clock[0] += 61
    verdict = checker.verify("REGISTER", reply, username=USER, password="pw")
    assert not verdict.ok and verdict.stale
    assert "stale=true" in checker.challenge(stale=True)
