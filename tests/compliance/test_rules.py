"""The compliance rules as a security chief reads them: inputs in, verdicts and numbers out."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.inventory.test_load import minimal
from vidaudit.compliance.model import (
    ChannelEvidence,
    DeviceStatus,
    ErrorKind,
    RecordingState,
    Severity,
)
from vidaudit.compliance.rules import business_day_needs, evaluate_channel, evaluate_device
from vidaudit.compliance.spans import Span, complement, merge
from vidaudit.inventory import parse_inventory

TZ = ZoneInfo("Asia/Shanghai")
# Friday 2026-11-20 18:00 Beijing time
NOW = dt.datetime(2026, 11, 20, 18, 0, tzinfo=TZ).astimezone(dt.UTC)
ONLINE = DeviceStatus("D", online=True, clock_drift_s=1.0)


def branch_and_policy(hours: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    data = minimal()
    data["branches"][0]["hours"] = hours or {  # type: ignore[index]
        d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")
    }
    data["policy"] = {"record_before_open_min": 30, "record_after_close_min": 30}
    inventory = parse_inventory(yaml.safe_dump(data, allow_unicode=True))
    return inventory.branches[0], inventory.policy


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def continuous(days: float, gaps: list[Span] = ()) -> list[Span]:  # type: ignore[assignment]
    start = NOW - dt.timedelta(days=days)
    return complement(gaps, start, NOW)


def evaluate(
    evidence: ChannelEvidence,
    required: int = 30,
    audio: bool = False,
    device: DeviceStatus = ONLINE,
):  # type: ignore[no-untyped-def]
    branch, policy = branch_and_policy()
    return evaluate_channel(
        evidence,
        device,
        branch=branch,
        policy=policy,
        tz=TZ,
        required_days=required,
        audio_required=audio,
        now=NOW,
    )


def healthy(days: float = 31, gaps: list[Span] = (), **kw: object) -> ChannelEvidence:  # type: ignore[assignment]
    footage = continuous(days, gaps)
    values: dict[str, object] = {
        "channel_id": "C",
        "search_supported": True,
        "recording_found": True,
        "recording_state": RecordingState.RECORDING,
        "earliest": footage[0].start,
        "latest": NOW,
        "footage": footage,
        "audio_track": True,
    }
    values.update(kw)
    return ChannelEvidence(**values)  # type: ignore[arg-type]


def rules(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.rule for v in result.violations]


def test_healthy_channel_complies() -> None:
    result = evaluate(healthy())
    assert result.compliant and rules(result) == []
    assert result.retention_days == 31.0
    assert result.occupancy == 1.0 and result.gaps == []
    assert result.business_hours_covered is True
    # window starts Wed 21 Oct 18:00; full business days Thu 22 Oct … Fri 20 Nov = 22
    assert len(result.business_days) == 22
    friday = result.business_days[-1]
    assert friday.date == dt.date(2026, 11, 20)
    assert friday.need == Span(
        local(20, 8, 0).astimezone(dt.UTC), local(20, 17, 30).astimezone(dt.UTC)
    )


def test_short_retention_is_critical_with_numbers() -> None:
    result = evaluate(healthy(days=12.5))
    (violation,) = result.violations
    assert violation.rule == "R1.retention" and violation.severity is Severity.CRITICAL
    assert violation.evidence == {"held_days": 12.5, "required_days": 30}
    assert result.retention_days == 12.5


def test_retention_tolerance_for_rolling_overwrite() -> None:
    assert rules(evaluate(healthy(days=30 - 0.5 / 24))) == []  # 30 min short: overwrite
    assert rules(evaluate(healthy(days=29.9))) == ["R1.retention"]


def test_per_channel_requirement_applies() -> None:
    assert rules(evaluate(healthy(days=45), required=90)) == ["R1.retention"]
    assert rules(evaluate(healthy(days=95), required=90)) == []


def test_unknown_earliest_is_unverifiable_not_fifty_years() -> None:
    result = evaluate(healthy(earliest=None, footage=None))
    assert result.retention_days is None
    assert rules(result) == ["R1.unverifiable"]
    no_search = ChannelEvidence("C", search_supported=False, recording_found=False)
    result = evaluate(no_search)
    assert rules(result) == ["R1.unverifiable"]
    assert "does not support recording search" in result.violations[0].detail


def test_verified_earliest_wins_and_marks_verified() -> None:
    proven = NOW - dt.timedelta(days=30, hours=2)
    result = evaluate(healthy(earliest=None, footage=None, verified_earliest=proven))
    assert result.verified and rules(result) == []
    assert result.retention_days == pytest.approx(30.08, abs=0.01)


def test_gap_in_business_hours_is_r2_with_minutes() -> None:
    gap = Span(local(18, 10, 0).astimezone(dt.UTC), local(18, 10, 40).astimezone(dt.UTC))
    result = evaluate(healthy(gaps=[gap]))
    assert rules(result) == ["R2.business_hours"]
    assert result.violations[0].evidence == {"days": ["2026-11-18"], "missing_min": 40.0}
    assert result.gaps == [gap]
    assert result.business_hours_covered is False
    assert result.occupancy == pytest.approx(1 - 40 / (30 * 24 * 60), abs=1e-4)


def test_gap_at_night_or_on_weekend_is_not_r2() -> None:
    night = Span(local(18, 20, 0).astimezone(dt.UTC), local(19, 6, 0).astimezone(dt.UTC))
    sunday = Span(local(15, 0, 0).astimezone(dt.UTC), local(16, 0, 0).astimezone(dt.UTC))
    result = evaluate(healthy(gaps=[night, sunday]))
    assert rules(result) == []
    assert result.occupancy is not None and result.occupancy < 1


def test_recording_started_after_opening_margin_fails_r2() -> None:
    # started 08:10 instead of 08:00 (open 08:30 − 30 min)
    late = Span(local(19, 0, 0).astimezone(dt.UTC), local(19, 8, 10).astimezone(dt.UTC))
    result = evaluate(healthy(gaps=[late]))
    assert rules(result) == ["R2.business_hours"]
    assert result.violations[0].evidence["missing_min"] == 10.0


def test_whole_business_day_missing_is_r1_missing_days() -> None:
    day = Span(local(17, 0, 0).astimezone(dt.UTC), local(18, 0, 0).astimezone(dt.UTC))
    result = evaluate(healthy(gaps=[day]))
    assert rules(result) == ["R1.missing_days"]
    assert result.violations[0].evidence == {"days": ["2026-11-17"]}


def test_days_before_oldest_footage_are_r1_only() -> None:
    result = evaluate(healthy(days=10))
    assert rules(result) == ["R1.retention"]
    assert all(day.need.end > NOW - dt.timedelta(days=10) for day in result.business_days)


@pytest.mark.parametrize(
    ("now", "first"),
    [
        # 00:30: the window opens on 10-21 before its 08:00 need starts, so 10-21 counts
        (dt.datetime(2026, 11, 20, 0, 30, tzinfo=TZ), dt.date(2026, 10, 21)),
        # 08:10: the window opens after 10-21's need started, so 10-22 is the first
        (dt.datetime(2026, 11, 20, 8, 10, tzinfo=TZ), dt.date(2026, 10, 22)),
    ],
)
def test_first_day_of_the_window_counts_when_its_need_is_inside(
    now: dt.datetime, first: dt.date
) -> None:
    branch, policy = branch_and_policy()
    window_start = now - dt.timedelta(days=30)
    needs = business_day_needs(branch, policy, TZ, window_start, now)
    assert needs[0][0] == first
    assert all(span.start >= window_start for _day, span in needs)


def test_today_counts_up_to_now() -> None:
    branch, policy = branch_and_policy()
    morning = dt.datetime(2026, 11, 20, 9, 0, tzinfo=TZ).astimezone(dt.UTC)
    footage = [Span(morning - dt.timedelta(days=31), morning - dt.timedelta(minutes=50))]
    result = evaluate_channel(
        ChannelEvidence(
            "C",
            True,
            True,
            RecordingState.RECORDING,
            footage[0].start,
            footage[0].end,
            footage,
            True,
        ),
        ONLINE,
        branch=branch,
        policy=policy,
        tz=TZ,
        required_days=30,
        audio_required=False,
        now=morning,
    )
    # recording stopped 08:10; today's need so far is 08:00-09:00
    assert "R2.business_hours" in rules(result)
    assert "R6.not_recording" in rules(result)
    today = result.business_days[-1]
    assert today.date == dt.date(2026, 11, 20) and today.need.end == morning


def test_stopped_recording_is_critical() -> None:
    result = evaluate(healthy(recording_state=RecordingState.STOPPED))
    assert rules(result) == ["R6.not_recording"]


def test_audio_rules() -> None:
    assert rules(evaluate(healthy(audio_track=False), audio=True)) == ["R5.audio"]
    assert rules(evaluate(healthy(audio_track=None), audio=True)) == ["R5.unverifiable"]
    assert rules(evaluate(healthy(audio_track=False), audio=False)) == []


def test_offline_device_channel_is_not_guessed() -> None:
    down = DeviceStatus("D", online=False, error_kind=ErrorKind.TIMEOUT)
    result = evaluate(healthy(), device=down)
    assert rules(result) == ["R6.offline"]
    assert result.retention_days is None and result.occupancy is None


def test_no_matching_recording() -> None:
    result = evaluate(ChannelEvidence("C", search_supported=True, recording_found=False))
    assert rules(result) == ["R6.no_recording"]


@pytest.mark.parametrize(
    ("drift", "expected"), [(59.0, []), (-61.0, ["R3.clock"]), (3600.0, ["R3.clock"]), (None, [])]
)
def test_clock_drift(drift: float | None, expected: list[str]) -> None:
    _branch, policy = branch_and_policy()
    found = evaluate_device(DeviceStatus("D", True, clock_drift_s=drift), policy)
    assert [v.rule for v in found] == expected


def test_offline_device_names_kind() -> None:
    _branch, policy = branch_and_policy()
    (v,) = evaluate_device(DeviceStatus("D", False, ErrorKind.AUTH, "refused"), policy)
    assert v.rule == "R6.offline" and v.evidence == {"error_kind": "auth"}


def test_spans_merge_and_complement() -> None:
    a = Span(local(1, 0), local(1, 2))
    b = Span(local(1, 1), local(1, 3))
    c = Span(local(1, 3), local(1, 4))
    assert merge([c, a, b]) == [Span(local(1, 0), local(1, 4))]
    assert complement([a], local(1, 0), local(1, 5)) == [Span(local(1, 2), local(1, 5))]
    with pytest.raises(ValueError, match="aware"):
        Span(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))


def test_timeline_matches_plain_span_functions() -> None:
    import random

    from vidaudit.compliance.spans import Timeline, clip, total

    rng = random.Random(3)
    base = local(1, 0)
    spans = []
    for _ in range(200):
        start = base + dt.timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        spans.append(Span(start, start + dt.timedelta(minutes=rng.randrange(1, 600))))
    timeline = Timeline(spans)
    for _ in range(200):
        lo = base + dt.timedelta(minutes=rng.randrange(-600, 31 * 24 * 60))
        hi = lo + dt.timedelta(minutes=rng.randrange(0, 3000))
        assert timeline.clip(lo, hi) == clip(spans, lo, hi)
        assert timeline.complement(lo, hi) == complement(spans, lo, hi)
        assert timeline.covered(lo, hi) == total(clip(spans, lo, hi))
