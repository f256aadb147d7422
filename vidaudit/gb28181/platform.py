"""The upper platform a recorder registers to (GB/T 28181-2016 §9): registrar, keepalive,
queries and playback signalling.  Protocol only: registrations go to a ``RegistrationSink``
the caller provides (the service stores them in the database); no rules, no storage.

Registration (§9.1): REGISTER without credentials -> 401 with a digest challenge; with
the right ones -> 200 carrying ``Expires`` and ``Date`` (local time of the platform,
``YYYY-MM-DDTHH:MM:SS.sss``: devices set their clock from it).  Only IDs in the
inventory may register (403 otherwise, before any digest work), a wrong password gets
403.  ``Expires: 0`` unregisters.  A registration ends when it expires or when no
Keepalive (a ``Notify``/``Keepalive`` MESSAGE, §9.6) arrived for ``keepalive_timeout_s``.

Queries (§9.5, Annex A.2.4): a ``Query`` MESSAGE; the device confirms it with 200 and
answers in separate MESSAGEs (``Response``), which may be split: they are gathered by
(CmdType, SN) until ``SumNum`` items arrived.  Everything has a deadline: a query that
does not complete in time raises ``GbError("timeout")``, partial answers included (a
RecordInfo missing items would show footage as gaps).

Playback (§9.8): INVITE with an SDP offer (``s=Playback``, ``u=<channel>:0``,
``t=<start> <end>`` in seconds since 1970 -- the standard's own examples, e.g.
``t=1288625085 1288625871``, use that epoch, not NTP's), then ACK; media flows straight to
the address in the offer; BYE ends it.  The device may end it first (BYE, or a
``MediaStatus`` Notify with ``NotifyType`` 121 at the end of the range).

UDP requests are retransmitted with RFC 3261's timers (T1 = 0.5 s doubling to T2 = 4 s);
retransmitted incoming requests get the same answer again, without being handled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from vidaudit.gb28181 import manscdp
from vidaudit.gb28181.digest import DigestRealm
from vidaudit.gb28181.errors import GbError, kind_for_status
from vidaudit.gb28181.manscdp import (
    CatalogItem,
    DeviceInfoAnswer,
    DeviceStatusAnswer,
    Envelope,
    ManscdpError,
    RecordItem,
)
from vidaudit.gb28181.sip import (
    SipRequest,
    SipResponse,
    address_uri,
    build_request,
    new_branch,
    new_call_id,
    new_tag,
    param,
    response_to,
    uri_user,
)
from vidaudit.gb28181.transport import EndpointLimits, Peer, SipEndpoint, SipSockets, Transport

logger = logging.getLogger(__name__)

T1_S = 0.5
T2_S = 4.0
USER_AGENT = "vidaudit"
ALLOW = "REGISTER, MESSAGE, INVITE, ACK, BYE, OPTIONS"
#: Answers remembered for retransmitted requests (RFC 3261 Timer J: 64 x T1 over UDP).
_ANSWERED_TTL_S = 32.0
_ANSWERED_MAX = 4096
#: Notify/Keepalive logs per device at most this often.
_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class PlatformIdentity:
    """vidaudit's own SIP identity (the inventory's ``gb28181`` section)."""

    id: str
    domain: str
    password: SecretStr
    #: the platform's local time zone, for the ``Date`` of a 200 to REGISTER
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class PlatformTimers:
    expires_min_s: int = 60
    expires_max_s: int = 86_400
    #: a registered device that sent nothing for this long is no longer registered
    #: (GB/T 28181 §9.6: keepalive every 60 s, offline after 3 missed)
    keepalive_timeout_s: float = 180.0
    sweep_every_s: float = 5.0
    nonce_ttl_s: float = 300.0


@dataclass(frozen=True)
class Registration:
    gb_id: str
    transport: Transport
    #: where its messages come from (what we send to: the source, not the Contact, as
    #: recorders sit behind NAT as often as not)
    host: str
    port: int
    contact: str
    registered_at: dt.datetime
    expires_at: dt.datetime
    last_seen_at: dt.datetime

    @property
    def peer(self) -> Peer:
        return Peer(self.transport, self.host, self.port)

    def alive(self, now: dt.datetime, keepalive_timeout: dt.timedelta) -> bool:
        return now < self.expires_at and now - self.last_seen_at <= keepalive_timeout


class RegistrationSink(Protocol):
    """Where registrations go (the service stores them; tests may keep them in memory)."""

    async def saved(self, registration: Registration) -> None: ...

    async def removed(self, gb_id: str, reason: str) -> None: ...


@dataclass(frozen=True)
class MediaOffer:
    """Where the media of a playback should go: our receiving socket."""

    #: empty: the address the device reaches the platform at
    host: str
    port: int
    #: udp: RTP datagrams to host:port; tcp: we listen (``a=setup:passive``) and the
    #: device connects, RTP framed by RFC 4571's 2-byte lengths
    transport: Literal["udp", "tcp"]


@dataclass
class Call:
    call_id: str
    gb_id: str
    channel_id: str
    peer: Peer
    uri: str
    from_header: str
    to_header: str
    cseq: int
    ssrc: str
    answer_sdp: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""


@dataclass
class _Gather:
    cmd_type: str
    list_name: str | None
    accept_ids: frozenset[str]
    messages: list[Envelope] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    expected: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, message: Envelope) -> None:
        self.messages.append(message)
        if self.list_name is None:
            self.done.set()
            return
        total = manscdp.sum_num(message.root)
        if total is not None:
            self.expected = total
        self.items.extend(manscdp.list_items(message.root, self.list_name))
        if self.expected is not None and len(self.items) >= self.expected:
            self.done.set()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _NoSink:
    async def saved(self, registration: Registration) -> None:
        return None

    async def removed(self, gb_id: str, reason: str) -> None:
        return None


class Platform:
    """One upper platform on one UDP+TCP port.  ``devices``: the IDs allowed to register
    (GB ID -> a name for the log, e.g. the inventory's device id)."""

    def __init__(
        self,
        identity: PlatformIdentity,
        devices: Mapping[str, str],
        *,
        sink: RegistrationSink | None = None,
        timers: PlatformTimers | None = None,
        limits: EndpointLimits | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.identity = identity
        self.devices = dict(devices)
        self.sink: RegistrationSink = sink or _NoSink()
        self.timers = timers or PlatformTimers()
        self.clock = clock
        self.realm = DigestRealm(
            identity.domain, secrets.token_bytes(32), nonce_ttl_s=self.timers.nonce_ttl_s
        )
        self.endpoint = SipEndpoint(self._on_message, limits or EndpointLimits())
        self.registrations: dict[str, Registration] = {}
        self.calls: dict[str, Call] = {}
        self._transactions: dict[str, asyncio.Future[SipResponse]] = {}
        self._gathers: dict[tuple[str, int], _Gather] = {}
        self._answered: OrderedDict[tuple[str, str, str], tuple[float, SipResponse]] = OrderedDict()
        self._sn = itertools.count(secrets.randbelow(90_000) + 10_000)
        self._ssrc = itertools.count(secrets.randbelow(5000))
        self._cseq = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._logged: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, host: str, port: int, sockets: SipSockets | None = None) -> None:
        """Listen on ``host:port`` (0: any free port, then ``port`` says which), or on
        ``sockets`` bound to it already (``SipEndpoint.start``)."""
        await self.endpoint.start(host, port, sockets)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def listen(self) -> str:
        """``HOST:PORT`` it listens on (the port it bound when asked for port 0)."""
        host = self.endpoint.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for future in self._transactions.values():
            future.cancel()
        await self.endpoint.stop()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def restore(self, registrations: Iterable[Registration]) -> int:
        """Registrations kept across a restart (from the sink's storage); the expired or
        silent ones and IDs no longer in the inventory are dropped.  Returns the number
        kept."""
        now = self.clock()
        keep = dt.timedelta(seconds=self.timers.keepalive_timeout_s)
        for registration in registrations:
            if registration.gb_id in self.devices and registration.alive(now, keep):
                self.registrations[registration.gb_id] = registration
        return len(self.registrations)

    def allow(self, devices: Mapping[str, str]) -> list[str]:
        """Replace the IDs allowed to register (the inventory was edited).  A device whose
        ID is no longer allowed loses its registration now, as if it had expired: its
        next keepalive gets 403, and so does its REGISTER.  Returns those IDs.  A new ID
        registers at its device's next attempt."""
        previous = self.devices
        self.devices = dict(devices)
        gone = [gb_id for gb_id in self.registrations if gb_id not in self.devices]
        for gb_id in gone:
            del self.registrations[gb_id]
            name = previous.get(gb_id)
            logger.info(
                "GB/T 28181 device %s unregistered: no longer in the inventory",
                f"{name} ({gb_id})" if name else gb_id,
            )
            self._spawn(self.sink.removed(gb_id, "removed from the inventory"))
        return gone

    def registration(self, gb_id: str) -> Registration | None:
        found = self.registrations.get(gb_id)
        keep = dt.timedelta(seconds=self.timers.keepalive_timeout_s)
        if found is None or not found.alive(self.clock(), keep):
            return None
        if not self.endpoint.connected(found.peer):
            return None  # registered over TCP and the connection is gone
        return found

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("GB/T 28181 registration store failed", exc_info=task.exception())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timers.sweep_every_s)
            self.sweep()

    def sweep(self) -> list[str]:
        """End registrations that expired or stopped keeping alive; their IDs."""
        now = self.clock()
        keep = dt.timedelta(seconds=self.timers.keepalive_timeout_s)
        gone = [g for g, r in self.registrations.items() if not r.alive(now, keep)]
        for gb_id in gone:
            registration = self.registrations.pop(gb_id)
            reason = "expired" if now >= registration.expires_at else "keepalive timeout"
            logger.info("GB/T 28181 device %s unregistered: %s", self._name(gb_id), reason)
            self._spawn(self.sink.removed(gb_id, reason))
        return gone

    def _name(self, gb_id: str) -> str:
        name = self.devices.get(gb_id)
        return f"{name} ({gb_id})" if name else gb_id

    def _log_once(self, key: str, level: int, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged.get(key, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._logged[key] = now
            if len(self._logged) > 10_000:
                self._logged.clear()
            logger.log(level, text, *args)

    # -- inbound ---------------------------------------------------------------------
    def _on_message(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        if isinstance(message, SipResponse):
            branch = message.branch or ""
            future = self._transactions.get(branch)
            if future is not None and not future.done() and message.status >= 200:
                future.set_result(message)
            return
        key = (message.call_id, message.header("CSeq") or "", message.branch or "")
        earlier = self._answered.get(key)
        if earlier is not None and message.method != "ACK":
            self.endpoint.send(earlier[1], peer)  # a retransmission: same answer again
            return
        response = self._handle(message, peer)
        if response is None:
            return
        response.add("User-Agent", USER_AGENT)
        self.endpoint.send(response, peer)
        now = time.monotonic()
        self._answered[key] = (now, response)
        while self._answered and (
            len(self._answered) > _ANSWERED_MAX
            or now - next(iter(self._answered.values()))[0] > _ANSWERED_TTL_S
        ):
            self._answered.popitem(last=False)

    def _handle(self, request: SipRequest, peer: Peer) -> SipResponse | None:
        method = request.method
        if method == "REGISTER":
            return self._register(request, peer)
        if method == "MESSAGE":
            return self._message(request, peer)
        if method == "BYE":
            call = self.calls.get(request.call_id)
            if call is None or call.peer.host != peer.host:
                return response_to(request, 481, "Call/Transaction Does Not Exist")
            del self.calls[request.call_id]
            call.end_reason = "the device hung up"
            call.ended.set()
            return response_to(request, 200, "OK")
        if method == "ACK":
            return None
        if method == "OPTIONS":
            return response_to(request, 200, "OK", to_tag=new_tag(), headers=[("Allow", ALLOW)])
        return response_to(request, 405, "Method Not Allowed", headers=[("Allow", ALLOW)])

    def _register(self, request: SipRequest, peer: Peer) -> SipResponse:
        gb_id = uri_user(address_uri(request.header("To") or "")) or ""
        tag = new_tag()
        if gb_id not in self.devices:
            self._log_once(
                f"unknown:{peer.host}",
                logging.WARNING,
                "REGISTER refused from %s: ID %r is not in the inventory",
                peer.host,
                gb_id[:32],
            )
            return response_to(request, 403, "Forbidden", to_tag=tag)
        authorization = request.header("Authorization")
        if authorization is None:
            return response_to(
                request,
                401,
                "Unauthorized",
                to_tag=tag,
                headers=[("WWW-Authenticate", self.realm.challenge())],
            )
        verdict = self.realm.verify(
            "REGISTER",
            authorization,
            username=gb_id,
            password=self.identity.password.get_secret_value(),
        )
        if not verdict.ok:
            if verdict.stale:
                return response_to(
                    request,
                    401,
                    "Unauthorized",
                    to_tag=tag,
                    headers=[("WWW-Authenticate", self.realm.challenge(stale=True))],
                )
            self._log_once(
                f"auth:{gb_id}",
                logging.WARNING,
                "REGISTER of %s from %s refused: %s",
                self._name(gb_id),
                peer.host,
                verdict.reason,
            )
            return response_to(request, 403, "Forbidden", to_tag=tag)
        contact = request.header("Contact") or ""
        expires_text = request.header("Expires") or param(contact, "expires") or "3600"
        expires = int(expires_text) if expires_text.isdigit() else 3600
        now = self.clock()
        date = now.astimezone(ZoneInfo(self.identity.timezone))
        stamp = date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{date.microsecond // 1000:03d}"
        headers = [("Date", stamp)]
        if expires == 0:
            if self.registrations.pop(gb_id, None) is not None:
                logger.info("GB/T 28181 device %s unregistered itself", self._name(gb_id))
                self._spawn(self.sink.removed(gb_id, "unregistered"))
            headers.append(("Expires", "0"))
            return response_to(request, 200, "OK", to_tag=tag, headers=headers)
        expires = max(self.timers.expires_min_s, min(self.timers.expires_max_s, expires))
        previous = self.registrations.get(gb_id)
        registration = Registration(
            gb_id=gb_id,
            transport=peer.transport,
            host=peer.host,
            port=peer.port,
            contact=address_uri(contact) if contact else f"sip:{gb_id}@{peer.host}:{peer.port}",
            registered_at=now if previous is None else previous.registered_at,
            expires_at=now + dt.timedelta(seconds=expires),
            last_seen_at=now,
        )
        self.registrations[gb_id] = registration
        if previous is None or previous.peer != registration.peer:
            logger.info("GB/T 28181 device %s registered from %s", self._name(gb_id), peer)
        self._spawn(self.sink.saved(registration))
        if contact:
            headers.append(("Contact", contact))
        headers.append(("Expires", str(expires)))
        return response_to(request, 200, "OK", to_tag=tag, headers=headers)

    def _message(self, request: SipRequest, peer: Peer) -> SipResponse:
        sender = uri_user(address_uri(request.header("From") or "")) or ""
        tag = new_tag()
        registration = self.registrations.get(sender)
        if registration is None:
            self._log_once(
                f"unregistered:{peer.host}:{sender[:32]}",
                logging.INFO,
                "MESSAGE from %s (%r) refused: not registered",
                peer.host,
                sender[:32],
            )
            return response_to(request, 403, "Forbidden", to_tag=tag)
        if peer.host != registration.host or (
            peer.transport == "tcp" and peer != registration.peer
        ):
            # A device's messages come from where it registered (with its password):
            # anyone else naming its ID could fake keepalives or answers.
            self._log_once(
                f"spoof:{peer.host}:{sender}",
                logging.WARNING,
                "MESSAGE naming %s from %s refused: it registered from %s",
                self._name(sender),
                peer,
                registration.peer,
            )
            return response_to(request, 403, "Forbidden", to_tag=tag)
        try:
            message = manscdp.envelope(request.body)
        except ManscdpError as exc:
            self._log_once(
                f"badxml:{sender}",
                logging.WARNING,
                "MESSAGE from %s with an unreadable body: %s",
                self._name(sender),
                exc,
            )
            return response_to(request, 400, "Bad Request", to_tag=tag)
        now = self.clock()
        self.registrations[sender] = replace(registration, last_seen_at=now)
        if message.kind == "Notify" and message.cmd_type == "Keepalive":
            self._spawn(self.sink.saved(self.registrations[sender]))
        elif message.kind == "Response":
            gather = self._gathers.get((message.cmd_type, message.sn))
            if gather is not None and message.device_id in gather.accept_ids:
                gather.add(message)
        elif message.kind == "Notify" and message.cmd_type == "MediaStatus":
            for call in list(self.calls.values()):
                if call.gb_id == sender and call.channel_id == message.device_id:
                    call.end_reason = "end of the requested range"
                    call.ended.set()
        return response_to(request, 200, "OK", to_tag=tag)

    # -- outbound ----------------------------------------------------------------------
    def _require(self, gb_id: str) -> Registration:
        registration = self.registration(gb_id)
        if registration is None:
            raise GbError("unreachable", "not registered")
        return registration

    def _via(self, peer: Peer, branch: str) -> str:
        host = self.endpoint.local_host_for(peer)
        return f"SIP/2.0/{peer.transport.upper()} {host}:{self.endpoint.port};rport;branch={branch}"

    def _from(self, tag: str) -> str:
        return f"<sip:{self.identity.id}@{self.identity.domain}>;tag={tag}"

    async def _transaction(self, request: SipRequest, peer: Peer, deadline: float) -> SipResponse:
        """Send a request and wait for its final response (retransmitting over UDP)."""
        branch = request.branch or ""
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._transactions[branch] = future
        loop = asyncio.get_running_loop()
        try:
            interval = T1_S
            while True:
                if not self.endpoint.send(request, peer):
                    raise GbError("unreachable", f"no connection to the device ({peer})")
                left = deadline - loop.time()
                if left <= 0:
                    raise GbError("timeout", f"no answer to {request.method} in time")
                wait = min(left, interval) if peer.transport == "udp" else left
                done, _pending = await asyncio.wait({future}, timeout=wait)
                if done:
                    return future.result()
                interval = min(interval * 2, T2_S)
        finally:
            self._transactions.pop(branch, None)

    async def query(
        self,
        gb_id: str,
        cmd_type: str,
        target_id: str,
        *,
        timeout_s: float,
        list_name: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> _Gather:
        """Send a ``Query`` and gather its ``Response`` MESSAGEs (see module doc)."""
        registration = self._require(gb_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        sn = next(self._sn)
        body = manscdp.query(cmd_type, sn, target_id, **dict(fields or {}))
        peer = registration.peer
        request = build_request(
            "MESSAGE",
            f"sip:{target_id}@{peer.host}:{peer.port}",
            via=self._via(peer, new_branch()),
            from_=self._from(new_tag()),
            to=f"<sip:{target_id}@{self.identity.domain}>",
            call_id=new_call_id(self.endpoint.local_host_for(peer)),
            cseq=next(self._cseq),
            headers=[("Content-Type", manscdp.CONTENT_TYPE), ("User-Agent", USER_AGENT)],
            body=body,
        )
        gather = _Gather(cmd_type, list_name, frozenset({gb_id, target_id}))
        self._gathers[(cmd_type, sn)] = gather
        try:
            answer = await self._transaction(request, peer, deadline)
            if answer.status != 200:
                raise GbError(
                    kind_for_status(answer.status),
                    f"{cmd_type} query refused: {answer.status} {answer.reason}",
                )
            try:
                async with asyncio.timeout_at(deadline):
                    await gather.done.wait()
            except TimeoutError:
                got = len(gather.items) if list_name else len(gather.messages)
                expected = "?" if gather.expected is None else str(gather.expected)
                what = f"{got} of {expected} items" if list_name else "no answer"
                raise GbError(
                    "timeout", f"{cmd_type} answer incomplete after {timeout_s:g} s ({what})"
                ) from None
            return gather
        finally:
            self._gathers.pop((cmd_type, sn), None)

    async def catalog(self, gb_id: str, *, timeout_s: float) -> list[CatalogItem]:
        gather = await self.query(
            gb_id, "Catalog", gb_id, timeout_s=timeout_s, list_name="DeviceList"
        )
        items: dict[str, CatalogItem] = {}
        try:
            for element in gather.items:
                item = manscdp.catalog_item(element)
                items.setdefault(item.device_id, item)
        except ManscdpError as exc:
            raise GbError("malformed", f"Catalog: {exc}") from None
        return list(items.values())

    async def device_info(self, gb_id: str, *, timeout_s: float) -> DeviceInfoAnswer:
        gather = await self.query(gb_id, "DeviceInfo", gb_id, timeout_s=timeout_s)
        return manscdp.device_info(gather.messages[0].root)

    async def device_status(self, gb_id: str, *, timeout_s: float) -> DeviceStatusAnswer:
        gather = await self.query(gb_id, "DeviceStatus", gb_id, timeout_s=timeout_s)
        return manscdp.device_status(gather.messages[0].root)

    async def record_info(
        self,
        gb_id: str,
        channel_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        timeout_s: float,
    ) -> list[RecordItem]:
        """Recorded segments of a channel over [start, end) (device local, naive)."""
        gather = await self.query(
            gb_id,
            "RecordInfo",
            channel_id,
            timeout_s=timeout_s,
            list_name="RecordList",
            fields={
                "StartTime": manscdp.format_time(start),
                "EndTime": manscdp.format_time(end),
                "Secrecy": "0",
                "Type": "all",
            },
        )
        try:
            return [manscdp.record_item(element) for element in gather.items]
        except ManscdpError as exc:
            raise GbError("malformed", f"RecordInfo: {exc}") from None

    # -- playback ----------------------------------------------------------------------
    def _new_ssrc(self) -> str:
        # §9.2.2 / Annex F: 10 digits, "1" for history (playback), then the 5 digits of
        # the domain after the province/city code, then a sequence.
        middle = (self.identity.domain + "00000000")[3:8]
        return f"1{middle}{next(self._ssrc) % 10000:04d}"

    def playback_sdp(
        self, channel_id: str, start: int, end: int, offer: MediaOffer, ssrc: str
    ) -> bytes:
        tcp = offer.transport == "tcp"
        lines = [
            "v=0",
            f"o={self.identity.id} 0 0 IN IP4 {offer.host}",
            "s=Playback",
            f"u={channel_id}:0",
            f"c=IN IP4 {offer.host}",
            f"t={start} {end}",
            f"m=video {offer.port} {'TCP/RTP/AVP' if tcp else 'RTP/AVP'} 96 98 97",
            "a=recvonly",
            "a=rtpmap:96 PS/90000",
            "a=rtpmap:98 H264/90000",
            "a=rtpmap:97 MPEG4/90000",
        ]
        if tcp:
            lines += ["a=setup:passive", "a=connection:new"]
        lines.append(f"y={ssrc}")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    async def invite_playback(
        self,
        gb_id: str,
        channel_id: str,
        start: int,
        end: int,
        offer: MediaOffer,
        *,
        timeout_s: float,
    ) -> Call:
        """INVITE a playback of ``channel_id`` over [start, end] (seconds since 1970, as
        the device's clock counts) to ``offer``; returns once ACKed."""
        registration = self._require(gb_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        peer = registration.peer
        if not offer.host:
            # our address as the device sees it: where it sends the media
            offer = replace(offer, host=self.endpoint.local_host_for(peer))
        ssrc = self._new_ssrc()
        from_header = self._from(new_tag())
        call_id = new_call_id(self.endpoint.local_host_for(peer))
        uri = f"sip:{channel_id}@{peer.host}:{peer.port}"
        cseq = next(self._cseq)
        local = self.endpoint.local_host_for(peer)
        request = build_request(
            "INVITE",
            uri,
            via=self._via(peer, new_branch()),
            from_=from_header,
            to=f"<sip:{channel_id}@{self.identity.domain}>",
            call_id=call_id,
            cseq=cseq,
            headers=[
                ("Contact", f"<sip:{self.identity.id}@{local}:{self.endpoint.port}>"),
                ("Subject", f"{channel_id}:{ssrc},{self.identity.id}:0"),
                ("Content-Type", "application/sdp"),
                ("User-Agent", USER_AGENT),
            ],
            body=self.playback_sdp(channel_id, start, end, offer, ssrc),
        )
        answer = await self._transaction(request, peer, deadline)
        to_header = answer.header("To") or ""
        if answer.status >= 300:
            # the ACK of a non-2xx final answer is part of the INVITE transaction (§17.1.1.3)
            ack = build_request(
                "ACK",
                uri,
                via=request.header("Via") or "",
                from_=from_header,
                to=to_header,
                call_id=call_id,
                cseq=cseq,
            )
            self.endpoint.send(ack, peer)
            raise GbError(
                kind_for_status(answer.status),
                f"playback refused: {answer.status} {answer.reason}",
            )
        target = address_uri(answer.header("Contact") or "") or uri
        call = Call(
            call_id,
            gb_id,
            channel_id,
            peer,
            target,
            from_header,
            to_header,
            cseq,
            ssrc,
            answer.body.decode("utf-8", "replace"),
        )
        ack = build_request(
            "ACK",
            target,
            via=self._via(peer, new_branch()),
            from_=from_header,
            to=to_header,
            call_id=call_id,
            cseq=cseq,
        )
        self.endpoint.send(ack, peer)
        self.calls[call_id] = call
        return call

    async def bye(self, call: Call, *, timeout_s: float) -> None:
        """End a playback; a device that already forgot it (481) or does not answer in
        time is not an error worth more than a log line."""
        self.calls.pop(call.call_id, None)
        if call.ended.is_set() and call.end_reason == "the device hung up":
            return
        call.cseq += 1
        request = build_request(
            "BYE",
            call.uri,
            via=self._via(call.peer, new_branch()),
            from_=call.from_header,
            to=call.to_header,
            call_id=call.call_id,
            cseq=call.cseq,
            headers=[("User-Agent", USER_AGENT)],
        )
        loop = asyncio.get_running_loop()
        try:
            answer = await self._transaction(request, call.peer, loop.time() + timeout_s)
            if answer.status >= 300 and answer.status != 481:
                logger.info("BYE for %s answered %s", call.channel_id, answer.status)
        except GbError as exc:
            logger.info("BYE for %s: %s", call.channel_id, exc.message)
        finally:
            call.end_reason = call.end_reason or "ended by us"
            call.ended.set()


__all__ = [
    "Call",
    "MediaOffer",
    "Platform",
    "PlatformIdentity",
    "PlatformTimers",
    "Registration",
    "RegistrationSink",
]
