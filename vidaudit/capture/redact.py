"""Redaction of captured device traffic: secrets and identities become stable placeholders.

Protocol-neutral: ONVIF's SOAP, ISAPI's XML or JSON and Dahua's ``key=value`` text all
go through ``Redactor.text``.

A capture is sent by a bank's administrator to whoever maintains vidaudit, and kept in a
public test suite; nothing in it may identify the bank's network or unlock a device.
Replaced, wherever they occur (elements, attributes, URLs, plain text):

* the device's password and user name (exact text, also XML-escaped);
* WS-Security ``Password`` digests and ``Nonce``s (``DIGEST-n``, ``NONCE-n``), and HTTP
  digest ``response``/``nonce``/``cnonce`` values should a header ever be kept;
* serial numbers (``SerialNumber`` / ``serialNumber`` elements, ``serialNumber=`` lines
  and JSON members, then the same value anywhere: realms, scopes, names) -> ``SERIAL-n``;
* MAC addresses -> ``02:00:00:00:00:nn`` (locally administered);
* IP addresses (IPv4 and IPv6, in URLs, address elements, ``key=value`` lines and JSON
  strings) -> ``192.0.2.n`` /
  ``2001:db8::n`` (the documentation ranges, RFC 5737 / RFC 3849), so a URL stays a URL;
* host names in URLs -> ``device-n.example`` (RFC 2606); namespace URIs (every
  ``xmlns`` value of the document, and the standards' hosts) are identifiers, not
  addresses, and stay.

"Stable": the same value gets the same placeholder throughout one capture, so a replay
still sees the XAddr of GetServices and the host of GetReplayUri agree.  Values are
never logged.  Firmware versions such as ``61.8.0.3-r8`` look like IPv4 addresses and
are not in an address position, so they are left alone: only addresses where addresses
go (URL hosts, address elements, whole text values) are replaced.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from xml.sax.saxutils import escape

#: Hosts of namespace URIs that appear as text in ONVIF messages (tds:Namespace, topic
#: dialects, tt:Address of a recording source): standards, never a bank's machine.
PUBLIC_HOSTS = frozenset(
    {
        "www.onvif.org",
        "www.w3.org",
        "docs.oasis-open.org",
        "schemas.xmlsoap.org",
        "tempuri.org",
        "www.axis.com",
        "www.hikvision.com",
        "www.isapi.org",
        "www.std-cgi.com",
    }
)
#: Element local names (any case: ONVIF writes ``SerialNumber``, ISAPI ``serialNumber``)
#: whose text is secret or identifying, and the placeholder kind each becomes.
_SECRET_ELEMENTS = {"password": "DIGEST", "nonce": "NONCE", "serialnumber": "SERIAL"}
_ELEMENT = re.compile(
    r"(<(?:[\w.-]+:)?(?P<name>(?i:" + "|".join(_SECRET_ELEMENTS) + r"))\b[^>]*>)([^<]*)(</)"
)
#: ``key=value`` lines (Dahua CGI) and JSON members (ISAPI ``?format=json``) holding a
#: serial number, or a whole IPv4 address.
_SERIAL_VALUE = re.compile(r"""((?:^|[{,\s])"?[Ss]erialNumber"?\s*[=:]\s*"?)([^"\s,}]+)""", re.M)
_IPV4_VALUE = re.compile(r"""(^[\w.\[\]]+=|"\s*:\s*")((?:\d{1,3}\.){3}\d{1,3})(?=$|")""", re.M)
_ADDRESS_ELEMENT = re.compile(
    r"(<(?:[\w.-]+:)?(?:IPv4Address|IPv6Address|Address|HostName|Name|DNSname|"
    r"NTPServer|Gateway)\b[^>]*>)\s*([^<\s]+)\s*(</)"
)
_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][\w+.-]*://)(?P<userinfo>[^@/\s<>\"'?#]*@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^/:\s<>\"'?#\[\]]+)"
)
_XMLNS = re.compile(r"xmlns(?::[\w.-]+)?\s*=\s*[\"'][a-zA-Z][\w+.-]*://([^/\"':]+)")
_MAC = re.compile(r"(?<![0-9A-Fa-f:-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.-])")
_HTTP_DIGEST = re.compile(r"\b(response|nonce|cnonce)=\"?([^\",\s]+)\"?")


class Redactor:
    """Replaces secrets with placeholders, the same one for the same value."""

    def __init__(self, secrets: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        """``secrets``: passwords (never kept in any form); ``names``: user names and
        other identities known beforehand (the configured host, ...)."""
        self._known: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        for secret in secrets:
            if secret:
                self._known[secret] = "PASSWORD"
        for name in names:
            if name and name not in self._known:
                self._placeholder("USER", name)

    def _placeholder(self, kind: str, value: str) -> str:
        found = self._known.get(value)
        if found is not None:
            return found
        n = self._counters[kind] = self._counters.get(kind, 0) + 1
        placeholder = {
            "MAC": f"02:00:00:00:00:{n:02x}",
            "IPV4": f"192.0.2.{n}",
            "IPV6": f"2001:db8::{n:x}",
            "HOST": f"device-{n}.example",
            "USER": f"user-{n}",
        }.get(kind, f"{kind}-{n}")
        self._known[value] = placeholder
        return placeholder

    def host(self, value: str, public: frozenset[str] = PUBLIC_HOSTS) -> str:
        """A host (IP literal or name) as a placeholder; public namespace hosts stay."""
        bare = value.strip("[]")
        try:
            address = ipaddress.ip_address(bare)
        except ValueError:
            if value.lower() in public or value in self._known.values():
                return value
            return self._placeholder("HOST", value)
        if value in self._known.values():
            return value
        kind = "IPV4" if address.version == 4 else "IPV6"
        replaced = self._placeholder(kind, bare)
        return f"[{replaced}]" if value.startswith("[") else replaced

    def text(self, data: str) -> str:
        """Redact one message (XML or not)."""
        public = PUBLIC_HOSTS | {m.group(1).lower() for m in _XMLNS.finditer(data)}
        data = _ELEMENT.sub(
            lambda m: (
                m.group(1)
                + (
                    self._placeholder(_SECRET_ELEMENTS[m.group("name").lower()], m.group(3))
                    if m.group(3).strip()
                    else ""
                )
                + m.group(4)
            ),
            data,
        )
        data = _SERIAL_VALUE.sub(
            lambda m: m.group(1) + self._placeholder("SERIAL", m.group(2)), data
        )
        data = _IPV4_VALUE.sub(lambda m: m.group(1) + self.host(m.group(2)), data)
        data = _HTTP_DIGEST.sub(
            lambda m: f'{m.group(1)}="{self._placeholder("DIGEST", m.group(2))}"', data
        )
        data = _URL.sub(
            lambda m: (
                m.group("scheme")
                + ("USER:PASSWORD@" if m.group("userinfo") else "")
                + self.host(m.group("host"), public)
            ),
            data,
        )
        data = _ADDRESS_ELEMENT.sub(
            lambda m: m.group(1) + self._address(m.group(2)) + m.group(3), data
        )
        data = _MAC.sub(
            lambda m: self._placeholder("MAC", m.group(0).lower().replace("-", ":")), data
        )
        data = re.sub(
            r">\s*((?:\d{1,3}\.){3}\d{1,3})\s*<", lambda m: f">{self.host(m.group(1))}<", data
        )
        data = re.sub(
            r"=\"((?:\d{1,3}\.){3}\d{1,3})\"", lambda m: f'="{self.host(m.group(1))}"', data
        )
        # Last, every value learnt so far, wherever else it appears (a serial number in a
        # digest realm, a host name in a scope, the password echoed in an error).
        # A password goes wherever it appears; a name, host or serial number only as a
        # word of its own (user "audit" must not turn "vidaudit" into "viduser-1").
        for value, placeholder in sorted(self._known.items(), key=lambda kv: -len(kv[0])):
            if len(value) < 3:
                continue
            for form in {value, escape(value, {'"': "&quot;", "'": "&apos;"})}:
                if placeholder == "PASSWORD":
                    data = data.replace(form, placeholder)
                else:
                    data = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w-])", placeholder, data)
        return data

    def _address(self, value: str) -> str:
        if _IPV4.fullmatch(value) or ":" in value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return value
            return self.host(value)
        return value

    def bytes(self, data: bytes) -> bytes:
        """``text`` for a raw body: UTF-8 where it is, bytes kept as they were elsewhere."""
        return self.text(data.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape"
        )

    def value(self, kind: str, value: str) -> str:
        """A placeholder for a value known to be secret (e.g. the serial number read
        from GetDeviceInformation), registered so ``text`` replaces it everywhere."""
        return self._placeholder(kind, value) if value else value
