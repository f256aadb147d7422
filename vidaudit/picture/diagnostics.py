"""Picture diagnostics for rule R4 (各通道录像画面是否正常): is a channel's picture normal?

``diagnose`` judges one BGR frame (a live snapshot or a pulled recorded frame) at the fixed
analysis size (``analysis_frame``), with seven checks, each giving a score and a verdict:

=============  ==============================================  ===========================
check          score                                           fails when
=============  ==============================================  ===========================
no_signal      gray-histogram entropy, bits                    black, flat, or few values
frozen         largest change of an 8×8 block since the         the whole frame and every
               previous sample (the clock's area included)     block still within encoder
                                                               noise
occlusion      share of the picture inside one smooth flat     at least the share
               dark area (16×9 grid)
brightness     mean luma                                       too dark or over-exposed
blur           var(Laplacian) / var(luma)                      below ``sharpness_min``
colour_cast    mean (a*, b*) distance from neutral, or shift   far (and far vs. spread);
               from a colour reference (Lab)                   never a black-and-white
                                                               (IR) picture
scene_change   correlation with the reference at 80×45         below the similarity
=============  ==============================================  ===========================

Two faults make the other checks meaningless, so those are ``skipped`` rather than failed:
without a signal nothing else is judged, nor once the lens is covered (a cloth over the lens
is dark, soft, still, of its own colour and "another scene": reporting all of that would
bury the one fault there is); a picture too dark or burnt out is not compared with the
scene either. ``Diagnosis.primary`` names the first failed check in
``PRECEDENCE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from vidaudit.picture.analysis_frame import ANALYSIS_SIZE, Image, as_u8, to_analysis_size
from vidaudit.picture.checks import PRECEDENCE, CheckName, Verdict
from vidaudit.picture.thresholds import DiagnosticThresholds

__all__ = [
    "PRECEDENCE",
    "CheckName",
    "CheckResult",
    "Diagnosis",
    "Verdict",
    "diagnose",
    "diagnosis_json",
]

#: Occlusion grid: 16×9 cells.
_GRID = (16, 9)
#: Blocks of the frozen check: 8×8 analysis pixels, so a clock's changed digit fills part
#: of one (at 1080p an OSD digit is ~4 analysis pixels wide).
_CHANGE_GRID = (ANALYSIS_SIZE[0] // 8, ANALYSIS_SIZE[1] // 8)
_REGIONS = (
    ("top left", "top", "top right"),
    ("left", "middle", "right"),
    ("bottom left", "bottom", "bottom right"),
)
#: The coarse picture (a quarter of the analysis size each way): occlusion cells are 5×5 of
#: it, so sensor noise (high gain in the dark) barely counts; the scene check correlates it,
#: so people walking matter little; chroma statistics need no more.
_COARSE_SIZE = (80, 45)
_PIXELS = ANALYSIS_SIZE[0] * ANALYSIS_SIZE[1]
_DEFAULT_THRESHOLDS = DiagnosticThresholds()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its score (None when skipped), verdict, and a readable reason."""

    name: CheckName
    verdict: Verdict
    score: float | None
    detail: str


@dataclass(frozen=True, eq=False)
class Diagnosis:
    """All checks of one frame, plus what the caller keeps for the channel's next samples.

    Pass a diagnosis (or its ``gray``) as ``previous`` to the next sample's ``diagnose``
    (frozen check), and that of a frame a person confirmed as normal as ``reference``
    (scene change; colour against the scene's own colours).
    """

    checks: dict[CheckName, CheckResult]
    verdict: Literal["pass", "fail"]
    #: The first failed check in ``PRECEDENCE``; None when all passed.
    primary: CheckName | None
    #: The frame at ``ANALYSIS_SIZE``: BGR and gray (uint8).
    bgr: Image
    gray: Image
    #: The coarse gray picture, zero-mean and unit-norm (what scene checks correlate).
    signature: NDArray[np.float32]
    #: Mean a*, b* of the picture (0, 0 is neutral), in OpenCV 8-bit Lab units.
    chroma: tuple[float, float]

    @property
    def failed(self) -> tuple[CheckName, ...]:
        return tuple(name for name in PRECEDENCE if self.checks[name].verdict == "fail")


@dataclass(frozen=True, slots=True)
class _Coarse:
    gray: NDArray[np.float32]
    signature: NDArray[np.float32]
    chroma: tuple[float, float]
    chroma_spread: float


def _coarse(bgr: Image) -> _Coarse:
    # Two exact halvings hit OpenCV's fast INTER_AREA path: 25 µs against 85 µs for one 4× step.
    half = cv2.resize(
        bgr, (ANALYSIS_SIZE[0] // 2, ANALYSIS_SIZE[1] // 2), interpolation=cv2.INTER_AREA
    )
    small = cv2.resize(half, _COARSE_SIZE, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mean, std = cv2.meanStdDev(cv2.cvtColor(small, cv2.COLOR_BGR2Lab))
    centred = gray - float(gray.mean())
    norm = float(np.linalg.norm(centred))
    signature = centred / norm if norm > 0 else centred
    return _Coarse(
        gray=gray,
        signature=signature,
        chroma=(float(mean[1, 0]) - 128.0, float(mean[2, 0]) - 128.0),
        chroma_spread=math.hypot(float(std[1, 0]), float(std[2, 0])),
    )


def _result(name: CheckName, failed: bool, score: float, detail: str) -> CheckResult:
    return CheckResult(name, "fail" if failed else "pass", score, detail)


def _skipped(name: CheckName, why: str) -> CheckResult:
    return CheckResult(name, "skipped", None, why)


def _entropy_bits(hist: NDArray[Any]) -> float:
    p = hist[hist > 0] / _PIXELS
    return float(-(p * np.log2(p)).sum())


def _check_no_signal(
    mean: float, std: float, entropy: float, t: DiagnosticThresholds
) -> CheckResult:
    reasons = []
    if mean <= t.black_luma_max and std <= t.black_std_max:
        reasons.append(f"black (mean luma {mean:.1f}, std {std:.1f})")
    if std <= t.uniform_std_max:
        reasons.append(f"one flat colour (luma std {std:.1f})")
    if entropy < t.entropy_min_bits:
        reasons.append(f"a generated screen (entropy {entropy:.2f} bits)")
    detail = "; ".join(reasons) or f"signal present (entropy {entropy:.2f} bits, std {std:.1f})"
    return _result("no_signal", bool(reasons), entropy, detail)


def _check_frozen(gray: Image, previous: Image, t: DiagnosticThresholds) -> CheckResult:
    """Frozen: the camera delivers the same picture, which a still scene does not do.

    A live camera's picture changes somewhere between two samples minutes apart even when
    nothing moves: its on-screen clock ticks (a few digits, a strong change in a small
    area) and its sensor adds fresh noise (a faint change everywhere).  A frozen one
    repeats its last picture, clock included; re-encoding that picture adds only encoder
    noise (the same decoded picture through the same JPEG encoder differs by a few
    tenths of a gray level on average and a few levels at most per block).  So both must
    be still for "frozen": the whole frame (``frozen_mad_max``) and its most-changed
    block (``frozen_block_max``) - comparing only the mean would call a still counter
    with a ticking clock frozen, the clock being a hundredth of the picture.
    """
    diff = cv2.absdiff(gray, previous)
    mad = float(cv2.mean(diff)[0])
    blocks = cv2.resize(diff, _CHANGE_GRID, interpolation=cv2.INTER_AREA)
    _lo, local, _lo_at, (bx, by) = cv2.minMaxLoc(blocks)
    failed = mad <= t.frozen_mad_max and local <= t.frozen_block_max
    where = _REGIONS[min(2, 3 * by // _CHANGE_GRID[1])][min(2, 3 * bx // _CHANGE_GRID[0])]
    detail = f"mean change {mad:.2f} gray levels, largest local change {local:.0f} ({where})" + (
        " (frozen)" if failed else ""
    )
    return _result("frozen", failed, float(local), detail)


def _check_occlusion(coarse: NDArray[np.float32], t: DiagnosticThresholds) -> CheckResult:
    """A covered lens: most of the picture is one smooth, flat, dark area.

    Something on or just in front of the lens is far out of focus, so it shows neither
    detail nor edges: flat cells whose neighbours are flat and of nearly the same
    brightness.  A dark scene (the hall at night, an iris stuck closed) is dark and flat
    in places too, but its walls, counter and windows still differ from cell to cell; only
    cells inside a smooth region count, so the night is not taken for a cloth.
    """
    means = cv2.resize(coarse, _GRID, interpolation=cv2.INTER_AREA)
    squares = cv2.resize(coarse * coarse, _GRID, interpolation=cv2.INTER_AREA)
    stds = np.sqrt(np.maximum(squares - means * means, 0))
    # Contrast relative to the cell's brightness, so a dim but intact scene is not "flat".
    contrast = stds / np.maximum(means, 16.0)
    flat_dark = (contrast <= t.occlusion_cell_contrast_max) & (means <= t.occlusion_cell_luma_max)
    tolerance = np.maximum(t.occlusion_smooth_step * means, 1.5)
    padded, padded_flat = np.pad(means, 1, mode="edge"), np.pad(flat_dark, 1, mode="edge")
    rows, cols = means.shape
    inside = flat_dark.copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        neighbour = padded[dy : dy + rows, dx : dx + cols]
        inside &= padded_flat[dy : dy + rows, dx : dx + cols]
        inside &= np.abs(neighbour - means) <= tolerance
    fraction = float(inside.mean())
    failed = fraction >= t.occlusion_fraction_min
    detail = (
        f"{fraction:.0%} of the picture one smooth flat dark area "
        f"({flat_dark.mean():.0%} flat and dark)"
    )
    return _result("occlusion", failed, fraction, detail)


def _check_brightness(
    mean: float, dark_clip: float, bright_clip: float, t: DiagnosticThresholds
) -> CheckResult:
    if mean <= t.dark_luma_max or dark_clip >= t.dark_clip_fraction_min:
        detail = f"too dark (mean luma {mean:.0f}, {dark_clip:.0%} black)"
        return _result("brightness", True, mean, detail)
    if mean >= t.bright_luma_min or bright_clip >= t.bright_clip_fraction_min:
        detail = f"over-exposed (mean luma {mean:.0f}, {bright_clip:.0%} white)"
        return _result("brightness", True, mean, detail)
    return _result("brightness", False, mean, f"mean luma {mean:.0f}")


def _check_blur(gray: Image, variance: float, t: DiagnosticThresholds) -> CheckResult:
    laplacian = cv2.Laplacian(gray, cv2.CV_16S)
    # Variance as E[x²] − E[x]²: cv2.norm and sumElems are ~10× faster than meanStdDev here.
    mean_lap = cv2.sumElems(laplacian)[0] / _PIXELS
    lap_variance = cv2.norm(laplacian, cv2.NORM_L2SQR) / _PIXELS - mean_lap * mean_lap
    # Relative to the picture's own contrast, so a dim or low-contrast scene is not "blurred".
    sharpness = float(lap_variance) / max(variance, 1.0)
    failed = sharpness < t.sharpness_min
    return _result("blur", failed, sharpness, f"sharpness {sharpness:.2f}")


def _check_colour_cast(
    coarse: _Coarse, reference: tuple[float, float] | None, t: DiagnosticThresholds
) -> CheckResult:
    da, db = coarse.chroma
    distance = math.hypot(da, db)
    if coarse.chroma_spread <= t.mono_spread_max and distance < t.cast_distance_min:
        # A black-and-white picture: the camera's IR night mode (IR-cut filter lifted).
        # It has no colours to be cast, whatever the colour reference taken by day says.
        detail = f"black-and-white picture (mean a* {da:+.1f}, b* {db:+.1f})"
        return _result("colour_cast", False, distance, detail)
    if reference is not None:
        # The reference shows the scene's own colours (a wood counter is not a cast).
        shift = math.hypot(da - reference[0], db - reference[1])
        detail = f"mean a* {da:+.1f}, b* {db:+.1f}; shifted {shift:.1f} from the reference"
        return _result("colour_cast", shift >= t.cast_shift_min, shift, detail)
    # Grey world: a whole picture far from neutral, and far compared with its own spread of
    # colours (a colourful scene has a large spread; a cast shifts everything alike).
    ratio = distance / max(coarse.chroma_spread, 1.0)
    failed = distance >= t.cast_distance_min and ratio >= t.cast_ratio_min
    detail = f"mean a* {da:+.1f}, b* {db:+.1f} (distance {distance:.1f}, {ratio:.1f}× the spread)"
    return _result("colour_cast", failed, distance, detail)


def _check_scene(
    signature: NDArray[np.float32], reference: NDArray[np.float32], t: DiagnosticThresholds
) -> CheckResult:
    # Normalised correlation: indifferent to overall gain and offset (day/night exposure).
    similarity = float((signature * reference).sum())
    failed = similarity < t.scene_similarity_min
    detail = f"similarity to the reference {similarity:.2f}"
    return _result(
        "scene_change", failed, similarity, detail + (" (scene moved)" if failed else "")
    )


def _kept_gray(kept: Diagnosis | Image, name: str) -> Image:
    if isinstance(kept, Diagnosis):
        return kept.gray
    gray = as_u8(cv2.cvtColor(kept, cv2.COLOR_BGR2GRAY)) if kept.ndim == 3 else kept
    if gray.shape != (ANALYSIS_SIZE[1], ANALYSIS_SIZE[0]):
        raise ValueError(f"{name} must be an analysis-size frame, got shape {kept.shape}")
    return gray


def _reference_features(
    reference: Diagnosis | Image,
) -> tuple[NDArray[np.float32], tuple[float, float] | None]:
    """The reference's signature, and its chroma when it has colour."""
    if isinstance(reference, Diagnosis):
        return reference.signature, reference.chroma
    gray = _kept_gray(reference, "reference")
    if reference.ndim == 3:
        coarse = _coarse(reference)
        return coarse.signature, coarse.chroma
    return _coarse(as_u8(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))).signature, None


def diagnose(
    image: Image,
    *,
    previous: Diagnosis | Image | None = None,
    reference: Diagnosis | Image | None = None,
    thresholds: DiagnosticThresholds = _DEFAULT_THRESHOLDS,
) -> Diagnosis:
    """Judge ``image`` (BGR or gray, any size).

    ``previous`` and ``reference`` are earlier diagnoses of the same channel, or their
    analysis-size arrays (``Diagnosis.gray`` / ``.bgr``; a gray reference cannot judge
    colour against the scene, so grey-world is used). Without ``previous`` the frozen check
    is skipped, without ``reference`` the scene-change check. Passing the ``Diagnosis``
    itself is fastest: its coarse features are not recomputed.
    """
    t = thresholds
    bgr, gray = to_analysis_size(image)
    coarse = _coarse(bgr)
    mean_arr, std_arr = cv2.meanStdDev(gray)
    mean, std = float(mean_arr[0, 0]), float(std_arr[0, 0])
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    entropy = _entropy_bits(hist)

    checks: dict[CheckName, CheckResult] = {"no_signal": _check_no_signal(mean, std, entropy, t)}
    if checks["no_signal"].verdict == "fail":
        return _diagnosis(_skip_rest(checks, "no signal"), bgr, gray, coarse)
    checks["occlusion"] = _check_occlusion(coarse.gray, t)
    if checks["occlusion"].verdict == "fail":
        return _diagnosis(_skip_rest(checks, "lens covered"), bgr, gray, coarse)

    dark_clip = float(hist[:9].sum()) / _PIXELS
    bright_clip = float(hist[250:].sum()) / _PIXELS
    checks["brightness"] = _check_brightness(mean, dark_clip, bright_clip, t)
    checks["blur"] = _check_blur(gray, std * std, t)
    if previous is None:
        checks["frozen"] = _skipped("frozen", "no previous sample")
    else:
        checks["frozen"] = _check_frozen(gray, _kept_gray(previous, "previous"), t)
    if reference is None:
        checks["scene_change"] = _skipped("scene_change", "no reference frame")
        checks["colour_cast"] = _check_colour_cast(coarse, None, t)
    else:
        signature, chroma = _reference_features(reference)
        if checks["brightness"].verdict == "fail":
            # Too dark or burnt out, the picture's structure is mostly clipping and noise:
            # comparing it with the scene would name a second fault that is not there.
            checks["scene_change"] = _skipped("scene_change", "exposure fault")
        else:
            checks["scene_change"] = _check_scene(coarse.signature, signature, t)
        checks["colour_cast"] = _check_colour_cast(coarse, chroma, t)
    return _diagnosis(checks, bgr, gray, coarse)


def _skip_rest(checks: dict[CheckName, CheckResult], why: str) -> dict[CheckName, CheckResult]:
    """The checks so far, and every other one ``skipped`` because of ``why``."""
    return {name: checks.get(name) or _skipped(name, why) for name in PRECEDENCE}


def _diagnosis(
    checks: dict[CheckName, CheckResult], bgr: Image, gray: Image, coarse: _Coarse
) -> Diagnosis:
    ordered = {name: checks[name] for name in PRECEDENCE}
    primary = next((name for name in PRECEDENCE if ordered[name].verdict == "fail"), None)
    return Diagnosis(
        checks=ordered,
        verdict="fail" if primary else "pass",
        primary=primary,
        bgr=bgr,
        gray=gray,
        signature=coarse.signature,
        chroma=coarse.chroma,
    )


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "verdict": diagnosis.verdict,
        "primary": diagnosis.primary,
        "checks": {
            name: {
                "verdict": check.verdict,
                "score": None if check.score is None else round(check.score, 4),
            }
            for name, check in diagnosis.checks.items()
        },
    }
