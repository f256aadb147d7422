"""The picture checks judge the camera, not the scene: every labelled picture
(tests/picture/labelled.py) gets the verdict a person gives it, at the resolutions bank
cameras and NVR channels deliver (D1 4:3, 720p... 1080p)."""

from __future__ import annotations

import pytest

from tests.picture.labelled import FAULT, NORMAL, LabelledCase, cases
from vidaudit.picture.diagnostics import Diagnosis, diagnose

SIZES = [(640, 360), (704, 576), (1920, 1080)]


def judge(case: LabelledCase) -> Diagnosis:
    previous = diagnose(case.previous) if case.previous is not None else None
    reference = diagnose(case.reference) if case.reference is not None else None
    return diagnose(case.current, previous=previous, reference=reference)


def explain(diagnosis: Diagnosis) -> dict[str, str]:
    return {name: f"{c.verdict}: {c.detail}" for name, c in diagnosis.checks.items()}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_labelled_picture_gets_its_verdict(size: tuple[int, int]) -> None:
    wrong = {}
    judged = 0
    for case in cases(size):
        diagnosis = judge(case)
        judged += 1
        if set(diagnosis.failed) != set(case.expected):
            wrong[case.name] = (sorted(case.expected), explain(diagnosis))
    assert judged >= 20
    assert not wrong, wrong


def test_the_set_holds_the_cases_the_issue_names() -> None:
    names = {case.name: case for case in cases()}
    normal = [c for c in names.values() if c.kind == NORMAL]
    faults = [c for c in names.values() if c.kind == FAULT]
    assert len(normal) >= 8 and len(faults) >= 12
    assert all(not c.expected for c in normal) and all(c.expected for c in faults)
    for needed in ("still scene, clock moved", "night", "IR", "frozen"):
        assert any(needed in name for name in names), needed
    # the still scene's only change is the clock: nothing else in the picture moved
    still = names["still scene, clock moved 1 minute"]
    assert still.previous is not None
    diagnosis = judge(still)
    assert diagnosis.verdict == "pass"
    assert "top" in diagnosis.checks["frozen"].detail  # where the clock is


def test_a_frozen_clock_is_frozen_even_when_the_encoder_adds_noise() -> None:
    case = next(c for c in cases() if c.name.startswith("frozen: the last picture re-encoded"))
    diagnosis = judge(case)
    assert diagnosis.failed == ("frozen",)
    score = diagnosis.checks["frozen"].score
    assert score is not None and score <= 8.0  # the largest block change: encoder noise
