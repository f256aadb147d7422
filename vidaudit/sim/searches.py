"""Search sessions of the recording search service: token, results, cursor, keep-alive.

ONVIF: a Find operation starts a session; GetXSearchResults hands out results in pages;
the session ends with EndSearch or when ``KeepAliveTime`` passes without a request about
it.  Each device keeps at most ``MAX_SESSIONS``: a client that never calls EndSearch
cannot grow the simulator's memory without bound (real devices refuse too).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vidaudit.sim.soap import SoapFault, invalid_arg

MAX_SESSIONS = 32
#: Devices must support at least 10 s (RecordingSearch spec); we cap what clients ask.
DEFAULT_KEEPALIVE = dt.timedelta(seconds=10)
MAX_KEEPALIVE = dt.timedelta(minutes=10)


@dataclass
class SearchSession:
    token: str
    kind: str
    #: Channels (FindRecordings) or event hits (FindEvents), in answer order.
    results: list[Any]
    keepalive: dt.timedelta
    expires: dt.datetime
    start_point: dt.datetime | None = None
    end_point: dt.datetime | None = None
    cursor: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.cursor >= len(self.results)

    def take(self, limit: int) -> list[Any]:
        page = self.results[self.cursor : self.cursor + limit]
        self.cursor += len(page)
        return page


class SearchStore:
    def __init__(self, token_format: str) -> None:
        self._format = token_format
        self._sessions: dict[str, SearchSession] = {}
        self._counter = 0

    def _purge(self, now: dt.datetime) -> None:
        for token in [t for t, s in self._sessions.items() if s.expires < now]:
            del self._sessions[token]

    def create(
        self,
        kind: str,
        results: list[Any],
        keepalive: dt.timedelta | None,
        now: dt.datetime,
        start_point: dt.datetime | None = None,
        end_point: dt.datetime | None = None,
    ) -> SearchSession:
        self._purge(now)
        if len(self._sessions) >= MAX_SESSIONS:
            raise SoapFault(
                "env:Receiver",
                ("ter:Action", "ter:ResourceProblem"),
                "unable to create a new search session",
            )
        keep = min(max(keepalive or DEFAULT_KEEPALIVE, dt.timedelta(seconds=1)), MAX_KEEPALIVE)
        self._counter += 1
        token = self._format.format(n=self._counter)
        session = SearchSession(token, kind, results, keep, now + keep, start_point, end_point)
        self._sessions[token] = session
        return session

    def peek(self, token: str, now: dt.datetime) -> SearchSession | None:
        self._purge(now)
        return self._sessions.get(token)

    def get(self, token: str, kind: str, now: dt.datetime) -> SearchSession:
        self._purge(now)
        session = self._sessions.get(token)
        if session is None or session.kind != kind:
            raise invalid_arg(f"unknown or expired search token {token!r}", "InvalidToken")
        session.expires = now + session.keepalive
        return session

    def end(self, token: str, now: dt.datetime) -> SearchSession:
        self._purge(now)
        session = self._sessions.pop(token, None)
        if session is None:
            raise invalid_arg(f"unknown or expired search token {token!r}", "InvalidToken")
        return session

    def __len__(self) -> int:
        return len(self._sessions)
