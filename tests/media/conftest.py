"""Clips shared by the media tests, written once per session (~0.5 s each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media.clips import Clip, write_clip

#: name -> (suffix, keyword arguments of write_clip)
CLIP_KINDS: dict[str, tuple[str, dict[str, int]]] = {
    "mp4": (".mp4", {}),
    "mkv": (".mkv", {}),
    "ts": (".ts", {}),
    "mp4-bframes": (".mp4", {"bframes": 2}),
    # An export whose timestamps start at 1 h 10 s, like an NVR's.
    "ts-offset": (".ts", {"first_pts": 25 * 3610}),
}


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clips(clip_dir: Path) -> dict[str, Clip]:
    return {
        name: write_clip(clip_dir / f"{name}{suffix}", **kwargs)
        for name, (suffix, kwargs) in CLIP_KINDS.items()
    }


@pytest.fixture(params=sorted(CLIP_KINDS))
def clip(request: pytest.FixtureRequest, clips: dict[str, Clip]) -> Clip:
    return clips[request.param]
