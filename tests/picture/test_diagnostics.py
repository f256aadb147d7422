"""Picture diagnostics on synthesized counter scenes: each fault fails its own check.

Overlaps by design (see vidaudit/picture/diagnostics.py): a black or "no video" frame fails
``no_signal`` and every other check is ``skipped``; a covered lens fails ``occlusion`` and
the rest is skipped (it is also dark, soft, still and "another scene").
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tests.picture import scenes
from vidaudit.picture.analysis_frame import ANALYSIS_SIZE, to_analysis_size
from vidaudit.picture.diagnostics import PRECEDENCE, Diagnosis, diagnose
from vidaudit.picture.thresholds import DiagnosticThresholds

REFERENCE = diagnose(scenes.counter_scene(people=0))  # the empty counter, confirmed normal
PREVIOUS = diagnose(scenes.counter_scene(people=3, people_seed=2))  # an earlier sample
NORMAL = scenes.counter_scene(people=3, people_seed=1)  # people have moved since

FAULTS = {
    "black": (scenes.black(), "no_signal"),
    "no_video_screen": (scenes.no_signal_screen(), "no_signal"),
    "blurred": (scenes.blurred(NORMAL), "blur"),
    "covered": (scenes.covered(NORMAL), "occlusion"),
    "colour_cast": (scenes.tinted(NORMAL), "colour_cast"),
    "too_dark": (scenes.exposed(NORMAL, 0.15), "brightness"),
    "over_exposed": (scenes.exposed(NORMAL, 1.8, 80), "brightness"),
    "turned_away": (scenes.counter_scene(seed=9, layout="ceiling", people=0), "scene_change"),
}


def test_a_normal_counter_with_people_moving_passes() -> None:
    diagnosis = diagnose(NORMAL, previous=PREVIOUS, reference=REFERENCE)
    assert diagnosis.verdict == "pass"
    assert diagnosis.primary is None
    assert all(check.verdict == "pass" for check in diagnosis.checks.values())
    assert list(diagnosis.checks) == list(PRECEDENCE)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_fails_its_own_check_only(fault: str) -> None:
    image, check = FAULTS[fault]
    diagnosis = diagnose(image, previous=PREVIOUS, reference=REFERENCE)
    assert diagnosis.failed == (check,), {c.name: c.detail for c in diagnosis.checks.values()}
    assert diagnosis.primary == check
    assert diagnosis.verdict == "fail"


@pytest.mark.parametrize("fault", ["black", "no_video_screen", "covered"])
def test_no_signal_and_covered_lens_skip_the_checks_they_make_meaningless(fault: str) -> None:
    diagnosis = diagnose(FAULTS[fault][0], previous=PREVIOUS, reference=REFERENCE)
    skipped = {name for name, c in diagnosis.checks.items() if c.verdict == "skipped"}
    judged = {"no_signal"} if fault != "covered" else {"no_signal", "occlusion"}
    assert skipped == set(PRECEDENCE) - judged
    assert all(diagnosis.checks[name].score is None for name in skipped)


def test_the_same_frame_twice_is_frozen() -> None:
    first = diagnose(NORMAL)
    second = diagnose(NORMAL, previous=first, reference=REFERENCE)
    assert second.failed == ("frozen",)
    assert second.checks["frozen"].score == 0.0


def test_kept_arrays_work_as_previous_and_reference() -> None:
    first = diagnose(NORMAL)
    by_gray = diagnose(NORMAL, previous=first.gray, reference=REFERENCE.gray)
    assert by_gray.failed == ("frozen",)
    # A gray reference cannot judge colour against the scene: grey world is used instead.
    tinted = diagnose(scenes.tinted(NORMAL), previous=PREVIOUS.bgr, reference=REFERENCE.gray)
    assert tinted.failed == ("colour_cast",)
    with pytest.raises(ValueError, match="analysis-size"):
        diagnose(NORMAL, previous=np.zeros((10, 10), np.uint8))


def test_colour_cast_is_judged_against_the_reference_scene_colours() -> None:
    with_reference = diagnose(scenes.tinted(NORMAL), reference=REFERENCE)
    assert with_reference.checks["colour_cast"].detail.endswith("from the reference")
    assert diagnose(NORMAL, reference=REFERENCE).checks["colour_cast"].verdict == "pass"


def test_without_previous_or_reference_those_checks_are_skipped() -> None:
    diagnosis = diagnose(NORMAL)
    assert diagnosis.verdict == "pass"
    assert diagnosis.checks["frozen"].verdict == "skipped"
    assert diagnosis.checks["scene_change"].verdict == "skipped"


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (704, 576)])
def test_verdicts_do_not_depend_on_resolution(size: tuple[int, int]) -> None:
    def at(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)

    reference = diagnose(at(scenes.counter_scene(people=0)))
    previous = diagnose(at(scenes.counter_scene(people=3, people_seed=2)))
    assert diagnose(at(NORMAL), previous=previous, reference=reference).verdict == "pass"
    for fault, (image, check) in FAULTS.items():
        diagnosis = diagnose(at(image), previous=previous, reference=reference)
        assert diagnosis.failed == (check,), fault
    assert reference.gray.shape == (ANALYSIS_SIZE[1], ANALYSIS_SIZE[0])


def test_gray_input_and_bad_input() -> None:
    gray = cv2.cvtColor(NORMAL, cv2.COLOR_BGR2GRAY)
    diagnosis = diagnose(gray)
    assert diagnosis.bgr.shape == (180, 320, 3)
    assert diagnosis.checks["colour_cast"].verdict == "pass"
    with pytest.raises(ValueError, match="8-bit"):
        to_analysis_size(NORMAL.astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        to_analysis_size(np.zeros((360, 640, 4), np.uint8))


def test_thresholds_are_configurable_bounded_and_closed() -> None:
    strict = DiagnosticThresholds(sharpness_min=5.0)
    assert diagnose(NORMAL, thresholds=strict).failed == ("blur",)
    with pytest.raises(ValidationError):
        DiagnosticThresholds(occlusion_fraction_min=1.5)
    with pytest.raises(ValidationError):
        DiagnosticThresholds.model_validate({"blur_min": 1})  # unknown key
    defaults = DiagnosticThresholds()
    assert defaults.frozen_mad_max == 0.5


def test_diagnosis_is_frozen() -> None:
    diagnosis = diagnose(NORMAL)
    assert isinstance(diagnosis, Diagnosis)
    with pytest.raises(AttributeError):
        diagnosis.primary = "blur"  # type: ignore[misc]
