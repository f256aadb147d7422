"""Thresholds of the picture diagnostics, all measured on the fixed analysis frame.

Units: luma and differences are 8-bit gray levels (0–255) on the 320×180 analysis frame;
fractions are 0–1; entropy is bits of the 256-bin gray histogram; colour distances are in
OpenCV's 8-bit Lab units (a*, b* each offset by 128; one unit ≈ one CIELAB unit).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DiagnosticThresholds(BaseModel):
    """When each picture check fails. The defaults were tuned on synthesized counter
    scenes and their faults (tests/picture/scenes.py); tune per site as needed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # no_signal: black, a flat colour (the NVR's blue "NO VIDEO" screen) or nearly one value.
    black_luma_max: float = Field(24.0, ge=0, le=128, description="black: mean luma at most")
    black_std_max: float = Field(5.0, ge=0, le=64, description="black: luma std dev at most")
    uniform_std_max: float = Field(3.0, ge=0, le=32, description="flat picture: std at most")
    entropy_min_bits: float = Field(
        2.0, ge=0, le=8, description="fewer histogram bits than this is a generated screen"
    )

    # frozen: against the previous sample of the same channel; both must hold.  The same
    # picture re-encoded differs by ~0.1 on average and <= 3 per block; a live camera's
    # sensor noise alone gives >= 0.7 on average, its ticking clock >= 14 in one block.
    frozen_mad_max: float = Field(
        0.5, ge=0, le=32, description="frozen: mean absolute luma difference at most"
    )
    frozen_block_max: float = Field(
        8.0, ge=0, le=255, description="frozen: largest 8×8 block's mean difference at most"
    )

    # blur: variance of the Laplacian relative to the picture's own contrast.
    sharpness_min: float = Field(
        0.1, ge=0, le=16, description="var(Laplacian) / var(luma) below this is blurred"
    )

    # occlusion: flat dark cells of a 16×9 grid, measured on an 80×45 reduction of the
    # analysis frame so that sensor noise (gain is high in the dark) does not look like detail.
    occlusion_cell_contrast_max: float = Field(
        0.05, ge=0, le=1, description="a flat cell: std / max(mean, 16) at most"
    )
    occlusion_cell_luma_max: float = Field(90.0, ge=0, le=255, description="a dark cell's mean")
    occlusion_smooth_step: float = Field(
        0.08,
        ge=0,
        le=1,
        description="neighbouring cells of one smooth area differ by at most this share",
    )
    occlusion_fraction_min: float = Field(
        0.4,
        gt=0,
        le=1,
        description="this share of the picture in one smooth flat dark area or more",
    )

    # colour_cast: without a reference, grey-world (mean chroma far from neutral, and far
    # compared with the chroma spread); with a colour reference, the shift of mean chroma.
    cast_distance_min: float = Field(
        15.0, ge=0, le=128, description="mean (a*, b*) distance from neutral at least"
    )
    cast_ratio_min: float = Field(
        0.7, ge=0, le=16, description="that distance over the chroma spread at least"
    )
    mono_spread_max: float = Field(
        2.0, ge=0, le=64, description="a black-and-white (IR) picture: chroma spread at most"
    )
    cast_shift_min: float = Field(
        15.0, ge=0, le=256, description="mean (a*, b*) shift from the reference at least"
    )

    # brightness: mean luma and clipped shares.
    dark_luma_max: float = Field(30.0, ge=0, le=255, description="too dark: mean luma at most")
    dark_clip_fraction_min: float = Field(
        0.6, gt=0, le=1, description="too dark: share of pixels at luma <= 8 at least"
    )
    bright_luma_min: float = Field(215.0, ge=0, le=255, description="over-exposed: mean at least")
    bright_clip_fraction_min: float = Field(
        0.3, gt=0, le=1, description="over-exposed: share of pixels at luma >= 250 at least"
    )

    # scene_change: similarity to the channel's reference frame.
    scene_similarity_min: float = Field(
        0.5, ge=-1, le=1, description="normalised correlation with the reference below this"
    )
