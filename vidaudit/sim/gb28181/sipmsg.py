"""The simulated recorder's SIP: just enough of RFC 3261 for a device's side of GB/T 28181.

Written apart from ``vidaudit.gb28181`` on purpose (the simulator shares no code with the
product it judges), and kept simpler: a device trusts its platform.  Messages are held as
a start line, an ordered header list and body bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field


@dataclass
class Msg:
    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0] if self.is_request else ""

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start.split(" ")[1])

    def get(self, name: str) -> str:
        short = {"via": "v", "from": "f", "to": "t", "call-id": "i", "contact": "m"}
        names = {name.lower(), short.get(name.lower(), "")}
        for key, value in self.headers:
            if key.lower() in names:
                return value
        return ""

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def encode(self) -> bytes:
        lines = [self.start]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def decode(data: bytes) -> Msg | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    msg = Msg(lines[0].strip())
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            msg.headers.append((name.strip(), value.strip()))
    length = msg.get("content-length")
    msg.body = body[: int(length)] if length.isdigit() else body
    return msg


def tag_of(header: str) -> str:
    for part in header.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "tag":
            return value.strip()
    return ""


def branch() -> str:
    return "z9hG4bK" + secrets.token_hex(6)


def reply(request: Msg, status: int, reason: str, *, extra: list[tuple[str, str]] | None = None,
          body: bytes = b"", tag: str = "") -> Msg:  # fmt: skip
    out = Msg(f"SIP/2.0 {status} {reason}")
    for via in request.all("Via") or [request.get("Via")]:
        out.headers.append(("Via", via))
    to = request.get("To")
    if tag and "tag=" not in to:
        to += f";tag={tag}"
    out.headers += [
        ("From", request.get("From")),
        ("To", to),
        ("Call-ID", request.get("Call-ID")),
        ("CSeq", request.get("CSeq")),
    ]
    out.headers += extra or []
    out.body = body
    return out


def digest_answer(challenge: str, *, method: str, uri: str, user: str, password: str) -> str:
    """An ``Authorization`` value for a ``WWW-Authenticate: Digest`` challenge (MD5)."""
    fields: dict[str, str] = {}
    for part in challenge.split(" ", 1)[1].split(","):
        key, _, value = part.strip().partition("=")
        fields[key.strip().lower()] = value.strip().strip('"')
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    parts = [
        f'username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        "algorithm=MD5",
    ]
    if "auth" in fields.get("qop", "").split(","):
        cnonce, nc = secrets.token_hex(8), "00000001"
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    return "Digest " + ", ".join(parts)


def sdp_fields(sdp: str) -> dict[str, list[str]]:
    """``{"m": ["video 5000 RTP/AVP 96"], "a": [...], ...}``."""
    out: dict[str, list[str]] = {}
    for line in sdp.splitlines():
        key, eq, value = line.partition("=")
        if eq and len(key) == 1:
            out.setdefault(key, []).append(value.strip())
    return out
