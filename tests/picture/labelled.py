"""A labelled set of camera pictures for the picture checks (R4): what a camera really
delivers through a quiet day and night, and its faults, each with the verdict a person
gives it.

Every case is a pair as the collector sees it: the channel's previous snapshot, minutes
earlier, and the current one (both through the camera's JPEG encoder), and for some a
reference picture a person confirmed as normal (by day, in colour).

``normal`` cases must pass: a still scene whose only change is the on-screen clock, a still
scene with sensor noise and no clock, the hall at night (dim, grainy), the camera in IR
black-and-white, people moving.  ``fault`` cases must fail exactly the named checks: a real
freeze (the same picture, clock included, re-encoded or not), no signal, a covered lens,
blur, a colour cast, bad exposure, a camera turned away.

``tests/picture/test_labelled.py`` holds the diagnostics to every label, and
``bench/frames.py`` prints the false-alarm rate (normal cases failed) and the miss rate
(faults not named) over the whole set, at several resolutions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.picture import scenes
from tests.picture.scenes import Image

NORMAL = "normal"
FAULT = "fault"


@dataclass(frozen=True)
class LabelledCase:
    name: str
    kind: str  # NORMAL or FAULT
    current: Image
    previous: Image | None = None
    reference: Image | None = None
    #: the checks a person says fail (empty for a normal picture)
    expected: frozenset[str] = field(default_factory=frozenset)
    why: str = ""


def _shot(image: Image, stamp: str | None, quality: int = 80) -> Image:
    """A snapshot: the clock burnt in (unless the OSD is off), then the JPEG encoder."""
    shown = scenes.with_clock(image, stamp) if stamp is not None else image
    return scenes.jpeg_round_trip(shown, quality)


def cases(size: tuple[int, int] = scenes.SIZE) -> Iterator[LabelledCase]:
    """Every labelled case, drawn at ``size`` (the camera's resolution)."""

    drawn: dict[tuple[tuple[str, object], ...], Image] = {}

    def scene(**kwargs: object) -> Image:
        # the same scene is drawn once per call of cases() (a 1080p scene takes ~0.3 s)
        key = tuple(sorted(kwargs.items()))
        if key not in drawn:
            drawn[key] = scenes.counter_scene(size=size, **kwargs)  # type: ignore[arg-type]
        return drawn[key].copy()

    day_reference = scene(people=0)
    # a quiet counter after closing: nobody there, the same light; a camera with strong
    # temporal noise reduction shows the very same pixels minute after minute
    empty = scene(people=0, seed=7)
    make: list[Callable[[], LabelledCase]] = [
        lambda: LabelledCase(
            "still scene, clock moved 5 minutes",
            NORMAL,
            _shot(empty, "2026-12-03 21:05:00"),
            _shot(empty, "2026-12-03 21:00:00"),
            day_reference,
            why="only the on-screen clock changes: the camera is live",
        ),
        lambda: LabelledCase(
            "still scene, clock moved 1 minute",
            NORMAL,
            _shot(empty, "2026-12-03 21:01:00"),
            _shot(empty, "2026-12-03 21:00:00"),
            why="one digit of the clock is the only change",
        ),
        lambda: LabelledCase(
            "still scene, sensor noise, no clock",
            NORMAL,
            _shot(scenes.add_noise(empty, 1.5, seed=11), None),
            _shot(scenes.add_noise(empty, 1.5, seed=12), None),
            why="the OSD is off; the sensor's noise differs from picture to picture",
        ),
        lambda: LabelledCase(
            "still scene, sensor noise and clock",
            NORMAL,
            _shot(scenes.add_noise(empty, 2.0, seed=13), "2026-12-03 03:10:00"),
            _shot(scenes.add_noise(empty, 2.0, seed=14), "2026-12-03 03:05:00"),
            day_reference,
        ),
        lambda: LabelledCase(
            "counter with people moving",
            NORMAL,
            _shot(scene(people=3, people_seed=1), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
        ),
        lambda: LabelledCase(
            "night: dim and grainy",
            NORMAL,
            _shot(scenes.night(empty, seed=21), "2026-12-03 23:05:00"),
            _shot(scenes.night(empty, seed=22), "2026-12-03 23:00:00"),
            day_reference,
            why="a night scene is not 'no signal', 'covered' or 'frozen'",
        ),
        lambda: LabelledCase(
            "IR black-and-white",
            NORMAL,
            _shot(scenes.infrared(empty, seed=31), "2026-12-04 01:05:00"),
            _shot(scenes.infrared(empty, seed=32), "2026-12-04 01:00:00"),
            day_reference,
            why="IR mode has no colour: not a colour cast against the day reference",
        ),
        lambda: LabelledCase(
            "IR with the faint tint some sensors keep",
            NORMAL,
            _shot(scenes.infrared(empty, seed=33, tint=(1.04, 0.95, 1.06)), "2026-12-04 01:10:00"),
            _shot(scenes.infrared(empty, seed=34, tint=(1.04, 0.95, 1.06)), "2026-12-04 01:05:00"),
            day_reference,
        ),
        lambda: LabelledCase(
            "IR black-and-white against a warmly lit day reference",
            NORMAL,
            _shot(scenes.infrared(empty, seed=35), "2026-12-04 01:15:00"),
            _shot(scenes.infrared(empty, seed=36), "2026-12-04 01:10:00"),
            scenes.tinted(day_reference, (0.75, 0.95, 1.3)),
            why="the day reference's warm colours are the lamps', not a camera fault",
        ),
        lambda: LabelledCase(
            "frozen: the same picture twice, clock included",
            FAULT,
            _shot(empty, "2026-12-03 21:00:00"),
            _shot(empty, "2026-12-03 21:00:00"),
            expected=frozenset({"frozen"}),
        ),
        lambda: LabelledCase(
            "frozen: the last picture re-encoded (encoder noise only)",
            FAULT,
            scenes.jpeg_round_trip(_shot(scene(people=3, people_seed=1), "2026-12-03 10:00:00")),
            _shot(scene(people=3, people_seed=1), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"frozen"}),
            why="the camera's picture and its clock stopped; only the JPEG differs",
        ),
        lambda: LabelledCase(
            "frozen at night: the grain stopped too",
            FAULT,
            scenes.jpeg_round_trip(_shot(scenes.night(empty, seed=25), "2026-12-03 23:00:00")),
            _shot(scenes.night(empty, seed=25), "2026-12-03 23:00:00"),
            expected=frozenset({"frozen"}),
        ),
        lambda: LabelledCase(
            "black picture",
            FAULT,
            _shot(scenes.black(size), None),
            expected=frozenset({"no_signal"}),
        ),
        lambda: LabelledCase(
            "the NVR's blue 'no video' screen",
            FAULT,
            _shot(scenes.no_signal_screen(size), None),
            expected=frozenset({"no_signal"}),
        ),
        lambda: LabelledCase(
            "lens covered",
            FAULT,
            _shot(scenes.covered(scene(people=3, people_seed=1)), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"occlusion"}),
        ),
        lambda: LabelledCase(
            "out of focus",
            FAULT,
            scenes.jpeg_round_trip(
                scenes.blurred(scene(people=3, people_seed=1), 3.0 * size[1] / 360)
            ),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"blur"}),
        ),
        lambda: LabelledCase(
            "white-balance fault",
            FAULT,
            _shot(scenes.tinted(scene(people=3, people_seed=1)), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"colour_cast"}),
        ),
        lambda: LabelledCase(
            "white-balance fault, no reference",
            FAULT,
            _shot(scenes.tinted(scene(people=3, people_seed=1)), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            expected=frozenset({"colour_cast"}),
        ),
        lambda: LabelledCase(
            "night without enough light: too dark, but not 'no signal' nor covered",
            FAULT,
            _shot(scenes.night(empty, light=0.22, gain_noise=2.5, seed=23), "2026-12-04 02:05:00"),
            _shot(scenes.night(empty, light=0.22, gain_noise=2.5, seed=24), "2026-12-04 02:00:00"),
            day_reference,
            expected=frozenset({"brightness"}),
            why="a person sees a dark hall (the camera needs IR or light), not a dead camera",
        ),
        lambda: LabelledCase(
            "iris stuck closed",
            FAULT,
            _shot(scenes.exposed(scene(people=3, people_seed=1), 0.15), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"brightness"}),
        ),
        lambda: LabelledCase(
            "over-exposed",
            FAULT,
            _shot(scenes.exposed(scene(people=3, people_seed=1), 1.8, 80), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"brightness"}),
        ),
        lambda: LabelledCase(
            "camera knocked to look at the ceiling",
            FAULT,
            _shot(scene(seed=9, layout="ceiling", people=0), "2026-12-03 10:05:00"),
            _shot(scene(people=3, people_seed=2), "2026-12-03 10:00:00"),
            day_reference,
            expected=frozenset({"scene_change"}),
        ),
    ]
    for build in make:
        yield build()
