"""The picture checks' names and verdicts, without OpenCV.

The rules (``compliance.picture``), the web pages and the catalogues name the checks;
only ``diagnostics`` computes them.  Keeping the names here lets the pure rule layer and
the web process translate a stored diagnosis without loading OpenCV and numpy.
"""

from __future__ import annotations

from typing import Literal

CheckName = Literal[
    "no_signal", "frozen", "occlusion", "brightness", "blur", "colour_cast", "scene_change"
]
#: The order in which a failure is named as the primary one.
PRECEDENCE: tuple[CheckName, ...] = (
    "no_signal",
    "frozen",
    "occlusion",
    "brightness",
    "blur",
    "colour_cast",
    "scene_change",
)
Verdict = Literal["pass", "fail", "skipped"]
