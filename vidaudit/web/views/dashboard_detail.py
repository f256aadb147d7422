"""Drill-down pages' data: a branch's devices and channels, a device's history, a channel's
retention trend, its 30-day recording timeline and its violations explained.

Pure functions turn observations into what the templates draw (SVG geometry included), so
the drawing logic is tested without a browser and the templates stay free of arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaudit.collector.history import RetentionPoint
from vidaudit.db.models import (
    ChannelObservationRow,
    ChannelRow,
    DeviceObservationRow,
    DeviceRow,
    SnapshotRow,
)
from vidaudit.inventory.schema import Branch, Policy
from vidaudit.picture.checks import PRECEDENCE
from vidaudit.web.i18n import Translator, zone

# --- violations in the reader's language --------------------------------------------------

#: every rule id the collector writes (vidaudit/compliance/rules.py); the tests check each
#: has a title and an explanation in both languages
KNOWN_RULES = (
    "R1.retention",
    "R1.unverifiable",
    "R1.missing_days",
    "R2.business_hours",
    "R2.unverifiable",
    "R3.clock",
    "R5.audio",
    "R5.unverifiable",
    "R6.offline",
    "R6.identity",
    "R6.no_recording",
    "R6.not_recording",
    "R6.storage",
    "R6.unverifiable",
)
ERROR_KINDS = (
    "unreachable",
    "timeout",
    "auth",
    "unsupported",
    "malformed",
    "device_fault",
    "config",
)

#: the picture checks (no OpenCV in the web process to translate them)
DIAG_CHECKS = PRECEDENCE


def rule_slug(rule: str) -> str:
    """``R1.retention`` -> ``r1_retention`` (catalogue keys are lower case)."""
    return rule.lower().replace(".", "_")


@dataclass(frozen=True)
class Explained:
    rule: str
    severity: str
    title: str
    text: str
    #: the failure's own words where a device call failed (technical, untranslated:
    #: what an administrator passes on to the vendor), shown under the text
    detail: str = ""


def _days(value: object, limit: int = 5) -> tuple[int, str]:
    days = [str(d) for d in value] if isinstance(value, list) else []
    shown = "、".join(days[:limit]) + (" …" if len(days) > limit else "")
    return len(days), shown


def explain(violation: dict[str, Any], t: Translator) -> Explained:
    """A stored violation (``{rule, severity, detail, evidence}``) as the reader's language
    says it; a rule this code does not know keeps the collector's own (English) detail."""
    rule = str(violation.get("rule", ""))
    severity = str(violation.get("severity", ""))
    evidence = violation.get("evidence") or {}
    if rule not in KNOWN_RULES:
        return Explained(rule, severity, rule, str(violation.get("detail", "")))
    slug = rule_slug(rule)
    values: dict[str, object] = {}
    text_key = f"dashboard.rule_text.{slug}"
    detail = ""
    if rule == "R1.retention":
        values = {
            "held": f"{float(evidence.get('held_days') or 0):.1f}",
            "required": evidence.get("required_days", "?"),
        }
    elif rule == "R1.unverifiable":
        values = {"required": evidence.get("required_days", "?")}
    elif rule in ("R1.missing_days", "R2.business_hours"):
        count, shown = _days(evidence.get("days"))
        values = {"count": count, "days": shown, "minutes": evidence.get("missing_min", "?")}
    elif rule == "R3.clock":
        values = {
            "drift": f"{float(evidence.get('drift_s') or 0):+.0f}",
            "max": f"{float(evidence.get('max_s') or 0):.0f}",
        }
    elif rule in ("R2.unverifiable", "R6.unverifiable"):
        # which call failed and how (the kind, translated); the failure's words below
        if rule == "R6.unverifiable" and evidence.get("fact") == "recording_state":
            text_key = "dashboard.rule_text.r6_unverifiable_state"
        values = {
            "call": evidence.get("call", "?"),
            "kind": error_kind_text(evidence.get("error_kind"), t),
        }
        if message := evidence.get("message"):
            detail = t("dashboard.rule_detail", detail=str(message))
    elif rule == "R6.offline":
        values = {"kind": error_kind_text(evidence.get("error_kind"), t)}
    elif rule == "R6.storage":
        disks = evidence.get("disks")
        values = {"disks": ", ".join(disks) if isinstance(disks, list) and disks else "-"}
    elif rule == "R6.identity":
        values = {
            "seen": evidence.get("seen_serial") or "?",
            "pinned": evidence.get("pinned_serial") or "?",
        }
    elif rule == "R6.not_recording" and evidence.get("age_min") is not None:
        text_key = "dashboard.rule_text.r6_not_recording_stale"
        values = {"minutes": evidence.get("age_min")}
    return Explained(rule, severity, t(f"dashboard.rule.{slug}"), t(text_key, **values), detail)


def error_kind_text(kind: object, t: Translator) -> str:
    if isinstance(kind, str) and kind in ERROR_KINDS:
        return t(f"dashboard.error_kind.{kind}")
    return str(kind or "")


# --- a branch's latest state ------------------------------------------------------------


@dataclass(frozen=True)
class DeviceLine:
    device: DeviceRow
    observation: DeviceObservationRow | None


@dataclass(frozen=True)
class ChannelLine:
    channel: ChannelRow
    observation: ChannelObservationRow | None

    @property
    def retention_short(self) -> bool:
        o = self.observation
        return (
            o is not None
            and o.retention_days is not None
            and any(v.get("rule") == "R1.retention" for v in o.violations)
        )


def branch_devices(db: Session, branch_id: str, run_id: int | None) -> list[DeviceLine]:
    devices = list(
        db.scalars(
            select(DeviceRow)
            .where(DeviceRow.branch_id == branch_id, DeviceRow.retired_at.is_(None))
            .order_by(DeviceRow.id)
        )
    )
    seen: dict[str, DeviceObservationRow] = {}
    if run_id is not None:
        seen = {
            o.device_id: o
            for o in db.scalars(
                select(DeviceObservationRow).where(
                    DeviceObservationRow.run_id == run_id,
                    DeviceObservationRow.branch_id == branch_id,
                )
            )
        }
    return [DeviceLine(d, seen.get(d.id)) for d in devices]


def branch_channels(
    db: Session, branch_id: str, run_id: int | None, device_id: str | None = None
) -> list[ChannelLine]:
    query = (
        select(ChannelRow)
        .join(DeviceRow, ChannelRow.device_id == DeviceRow.id)
        .where(DeviceRow.branch_id == branch_id, ChannelRow.retired_at.is_(None))
        .order_by(ChannelRow.device_id, ChannelRow.id)
    )
    if device_id is not None:
        query = query.where(ChannelRow.device_id == device_id)
    channels = list(db.scalars(query))
    seen: dict[str, ChannelObservationRow] = {}
    if run_id is not None:
        seen = {
            o.channel_id: o
            for o in db.scalars(
                select(ChannelObservationRow).where(
                    ChannelObservationRow.run_id == run_id,
                    ChannelObservationRow.branch_id == branch_id,
                )
            )
        }
    return [ChannelLine(c, seen.get(c.id)) for c in channels]


def device_history(db: Session, device_id: str, limit: int = 48) -> list[DeviceObservationRow]:
    """The device's most recent observations, newest first (ix_device_obs_device_time)."""
    return list(
        db.scalars(
            select(DeviceObservationRow)
            .where(DeviceObservationRow.device_id == device_id)
            .order_by(DeviceObservationRow.observed_at.desc())
            .limit(limit)
        )
    )


def latest_channel_observation(db: Session, channel_id: str) -> ChannelObservationRow | None:
    return db.scalars(
        select(ChannelObservationRow)
        .where(ChannelObservationRow.channel_id == channel_id)
        .order_by(ChannelObservationRow.observed_at.desc())
        .limit(1)
    ).first()


# --- SVG: a line chart ------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    #: one "x,y x,y" string per unbroken run of known values
    lines: list[str]
    #: (x, y, verified) of every drawn point (few after thinning)
    points: list[tuple[float, float, bool]]
    required_y: float | None
    y_ticks: list[Tick]
    x_ticks: list[Tick]

    @property
    def bottom(self) -> int:
        return self.top + self.plot_h

    @property
    def right(self) -> int:
        return self.left + self.plot_w


def latest_snapshot(db: Session, channel_id: str) -> SnapshotRow | None:
    return db.scalars(
        select(SnapshotRow)
        .where(SnapshotRow.channel_id == channel_id)
        .order_by(SnapshotRow.taken_at.desc())
        .limit(1)
    ).first()


def snapshot_branches(db: Session, sha256: str) -> set[str]:
    """The branches whose channels have a live snapshot with these bytes."""
    return set(
        db.scalars(
            select(DeviceRow.branch_id)
            .join(ChannelRow, ChannelRow.device_id == DeviceRow.id)
            .join(SnapshotRow, SnapshotRow.channel_id == ChannelRow.id)
            .where(SnapshotRow.evidence_sha256 == sha256)
        )
    )


def _thin(points: Sequence[RetentionPoint], most: int) -> list[RetentionPoint]:
    """At most ``most`` points, keeping the lowest retention of each bucket: a dip below
    the requirement is what the chart is for, and averaging would hide it."""
    if len(points) <= most:
        return list(points)
    size = len(points) / most
    out = []
    for i in range(most):
        bucket = points[int(i * size) : int((i + 1) * size)] or [points[-1]]
        known = [p for p in bucket if p.retention_days is not None]
        out.append(min(known, key=lambda p: p.retention_days or 0.0) if known else bucket[0])
    return out


def retention_chart(
    points: Sequence[RetentionPoint],
    tz: str,
    *,
    width: int = 720,
    height: int = 200,
    most: int = 240,
) -> LineChart | None:
    """Days held over time, with the requirement as a reference line."""
    if not points:
        return None
    shown = _thin(points, most)
    left, top, right_pad, bottom_pad = 44, 12, 12, 26
    plot_w, plot_h = width - left - right_pad, height - top - bottom_pad
    required = shown[-1].required_days
    held = [p.retention_days for p in shown if p.retention_days is not None]
    top_value = max([float(required), *held]) * 1.1 or 1.0
    start, end = shown[0].observed_at, shown[-1].observed_at
    span = (end - start).total_seconds()

    def x(at: dt.datetime) -> float:
        if span <= 0:
            return left + plot_w / 2
        return round(left + plot_w * (at - start).total_seconds() / span, 1)

    def y(value: float) -> float:
        return round(top + plot_h * (1 - value / top_value), 1)

    lines: list[str] = []
    current: list[str] = []
    drawn: list[tuple[float, float, bool]] = []
    for point in shown:
        if point.retention_days is None:
            if current:
                lines.append(" ".join(current))
            current = []
            continue
        px, py = x(point.observed_at), y(point.retention_days)
        current.append(f"{px},{py}")
        drawn.append((px, py, point.verified))
    if current:
        lines.append(" ".join(current))
    step = _nice_step(top_value)
    y_ticks = [Tick(y(v), f"{v:g}") for v in _frange(0, top_value, step)]
    # Dates alone repeat when the history is only a few days long; add the time then.
    fmt = "%m-%d" if span >= 4 * 86400 else "%m-%d %H:%M"
    x_ticks = []
    for i in range(5 if span > 0 else 1):
        at = start + (end - start) * (i / 4 if span > 0 else 0)
        x_ticks.append(Tick(x(at), at.astimezone(zone(tz)).strftime(fmt)))
    return LineChart(
        width=width,
        height=height,
        left=left,
        top=top,
        plot_w=plot_w,
        plot_h=plot_h,
        lines=lines,
        points=drawn if len(drawn) <= 60 else [],
        required_y=y(required),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
    )


def _nice_step(top: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 90, 180, 365):
        if top / step <= 6:
            return float(step)
    return float(round(top / 5))


def _frange(start: float, stop: float, step: float) -> list[float]:
    out, value = [], start
    while value <= stop:
        out.append(value)
        value += step
    return out


# --- SVG: the 30-day recording timeline -----------------------------------------------


@dataclass(frozen=True)
class Segment:
    x: float
    w: float
    #: rec | gap | none (before the oldest footage) | unchecked (outside the window)
    kind: str
    title: str


@dataclass(frozen=True)
class DayRow:
    date: dt.date
    y: float
    segments: list[Segment]
    #: the required recording window (opening − margin … closing + margin), or None
    business: tuple[float, float] | None
    missed: bool
    missing_min: float | None


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: int
    bar_w: int
    row_h: int
    bar_h: int
    days: list[DayRow]
    hours: list[Tick]


def _parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _spans(obs: ChannelObservationRow) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """The checked window split into recorded, gap and no-footage spans."""
    now = obs.observed_at
    window_start = now - dt.timedelta(days=obs.required_days)
    earliest = obs.earliest
    checked_from = max(window_start, earliest) if earliest else window_start
    spans: list[tuple[dt.datetime, dt.datetime, str]] = []
    if earliest is not None and earliest > window_start:
        # time before the oldest footage is a retention shortfall, not a gap (README)
        spans.append((window_start, min(earliest, now), "none"))
    gaps = []
    for pair in obs.gaps or []:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            start, end = _parse(pair[0]), _parse(pair[1])
            if start is not None and end is not None:
                gaps.append((max(start, checked_from), min(end, now)))
    cursor = checked_from
    for start, end in sorted(gaps):
        if end <= start:
            continue
        if start > cursor:
            spans.append((cursor, start, "rec"))
        spans.append((start, end, "gap"))
        cursor = max(cursor, end)
    if cursor < now:
        spans.append((cursor, now, "rec"))
    return spans


def recording_timeline(
    obs: ChannelObservationRow,
    branch: Branch,
    policy: Policy,
    tz: str,
    *,
    days: int = 30,
    width: int = 760,
) -> Timeline | None:
    """One bar per local day for the ``days`` days up to the observation, footage from its
    gaps, with the required recording window of each business day marked under the bar."""
    if obs.gaps is None:
        return None  # the device was not read, or had no recording search: nothing known
    zone_info = zone(tz)
    left, row_h, bar_h = 92, 18, 11
    bar_w = width - left - 18  # room for the missed-day mark
    spans = _spans(obs)
    missed = {
        str(d.get("date")): d
        for d in obs.business_days or []
        if isinstance(d, dict) and not d.get("covered", True)
    }
    before = dt.timedelta(minutes=policy.record_before_open_min)
    after = dt.timedelta(minutes=policy.record_after_close_min)
    last = obs.observed_at.astimezone(zone_info).date()
    rows = []
    for index in range(days):
        day = last - dt.timedelta(days=days - 1 - index)
        day_start = dt.datetime.combine(day, dt.time(), zone_info)
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone_info)
        length = (day_end - day_start).total_seconds()  # 23 or 25 h on a DST change

        def frac(at: dt.datetime, start: dt.datetime = day_start, size: float = length) -> float:
            return min(max((at - start).total_seconds() / size, 0.0), 1.0)

        segments = []
        for start, end, kind in spans:
            s, e = max(start, day_start), min(end, day_end)
            if e <= s:
                continue
            x0, x1 = frac(s), frac(e)
            title = f"{s.astimezone(zone_info):%H:%M}–{e.astimezone(zone_info):%H:%M}"
            segments.append(
                Segment(round(left + bar_w * x0, 1), round(bar_w * (x1 - x0), 2), kind, title)
            )
        hours = branch.hours_on(day)
        business = None
        if hours is not None:
            opening = dt.datetime.combine(day, hours.open, zone_info) - before
            closing = dt.datetime.combine(day, hours.close, zone_info) + after
            x0, x1 = frac(opening), frac(closing)
            business = (round(left + bar_w * x0, 1), round(bar_w * (x1 - x0), 1))
        entry = missed.get(day.isoformat())
        rows.append(
            DayRow(
                date=day,
                y=24 + index * row_h,
                segments=segments,
                business=business,
                missed=entry is not None,
                missing_min=(
                    float(entry["missing_min"])
                    if entry is not None and entry.get("missing_min") is not None
                    else None
                ),
            )
        )
    ticks = [Tick(round(left + bar_w * h / 24, 1), f"{h:02d}:00") for h in range(0, 25, 3)]
    return Timeline(
        width=width,
        height=24 + days * row_h + 4,
        left=left,
        bar_w=bar_w,
        row_h=row_h,
        bar_h=bar_h,
        days=rows,
        hours=ticks,
    )


# --- a device's drift over recent runs -------------------------------------------------


def drift_chart(
    history: Sequence[DeviceObservationRow],
    allowed: float,
    tz: str,
    *,
    width: int = 720,
    height: int = 160,
) -> LineChart | None:
    """|drift| over the device's recent runs, with the allowed drift as the reference."""
    points = [
        RetentionPoint(
            observed_at=o.observed_at,
            retention_days=None if o.clock_drift_s is None else abs(o.clock_drift_s),
            required_days=round(allowed),
            verified=o.online,
            compliant=o.online,
        )
        for o in sorted(history, key=lambda o: o.observed_at)
    ]
    if not any(p.retention_days is not None for p in points):
        return None
    return retention_chart(points, tz, width=width, height=height)
