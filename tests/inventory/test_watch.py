"""``InventoryWatch``: a long-running command notices an edited cameras.yaml (the main
file, a region file it includes, a new one a pattern matches, the env_file) by a stat of
each file, reads it again, and keeps the last good inventory when the edit is broken,
saying so once per broken state."""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.inventory.test_include import branch, split, write
from vidaudit.inventory import InventoryError, inventory_digest, load_inventory
from vidaudit.inventory.watch import RACY_S, InventoryWatch, Rejected, Reloaded, looks

#: a distinct time of change for each file ``aged`` touches, well before any look
_AGES = itertools.count()


def aged(*paths: Path) -> None:
    """Give files a time of change an hour ago (each a different one): a look right after
    is trusted (``RACY_S``), and a rewrite of the same size is still a change."""
    for path in paths:
        then = time.time_ns() - 3600 * 10**9 + next(_AGES) * 10**9
        os.utime(path, ns=(then, then))


def files_of(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture
def main(tmp_path: Path) -> Path:
    """``split``'s inventory (B1 in cameras.yaml, B2-B4 in regions/*.yaml) with an
    env_file holding the password every device names."""
    path = split(tmp_path, {"env_file": "cameras.env"})
    (tmp_path / "cameras.env").write_text("VIDAUDIT_PW=secret-one\n", encoding="utf-8")
    aged(*files_of(tmp_path))
    return path


def watched(main: Path, **options: Any) -> InventoryWatch:
    return InventoryWatch(main, load_inventory(main), **options)


def test_nothing_changed_is_no_change(main: Path) -> None:
    watch = watched(main)
    assert not watch.changed()
    assert watch.refresh() is None
    assert not watch.changed()


def test_a_touched_file_is_a_change_read_again_silently(
    main: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watched(main)
    before = watch.inventory
    aged(main.parent / "regions" / "south.yaml")  # its time changes, not its text
    assert watch.changed()
    with caplog.at_level(logging.INFO):
        assert watch.refresh() is None  # the same text: nothing to say or to swap
    assert watch.inventory is before
    assert not watch.changed()
    assert not [r for r in caplog.records if hasattr(r, "action")]


def test_a_rewritten_region_file_is_reloaded(main: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = watched(main)
    old = inventory_digest(watch.inventory)
    south = main.parent / "regions" / "south.yaml"
    renamed = branch(4) | {"name": "南区支行"}
    write(south, {"branches": [renamed]})
    aged(south)
    assert watch.changed()
    with caplog.at_level(logging.INFO):
        outcome = watch.refresh()
    assert isinstance(outcome, Reloaded)
    assert outcome.inventory.branches[-1].name == "南区支行"
    assert outcome.digest == inventory_digest(outcome.inventory) != old
    assert watch.inventory is outcome.inventory
    assert not watch.changed()
    (line,) = [r for r in caplog.records if getattr(r, "action", None) == "inventory_reloaded"]
    assert line.digest == outcome.digest[:12]  # type: ignore[attr-defined]
    assert "secret-one" not in line.getMessage()


def test_a_new_region_file_a_pattern_matches_is_a_change(main: Path) -> None:
    watch = watched(main)
    west = write(main.parent / "regions" / "west.yaml", {"branches": [branch(5)]})
    aged(west)
    assert watch.changed()
    outcome = watch.refresh()
    assert isinstance(outcome, Reloaded)
    assert [b.id for b in outcome.inventory.branches] == ["B1", "B2", "B3", "B4", "B5"]
    # and a region file that goes is a change as well
    west.unlink()
    assert watch.changed()
    outcome = watch.refresh()
    assert isinstance(outcome, Reloaded)
    assert [b.id for b in outcome.inventory.branches] == ["B1", "B2", "B3", "B4"]


def test_a_changed_env_file_is_a_change(main: Path) -> None:
    """The passwords are not part of the digest; what reads devices must still be built
    again from the new file: a new inventory object is handed over."""
    watch = watched(main)
    before = watch.inventory
    env = main.parent / "cameras.env"
    env.write_text("VIDAUDIT_PW=secret-two\n", encoding="utf-8")
    aged(env)
    assert watch.changed()
    outcome = watch.refresh()
    assert isinstance(outcome, Reloaded)
    assert outcome.inventory is not before
    assert outcome.digest == inventory_digest(before)
    assert not watch.changed()


def test_a_broken_edit_keeps_the_last_good_inventory_said_once_until_fixed(
    main: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watched(main)
    good = watch.inventory
    north = main.parent / "regions" / "north.yaml"
    text = north.read_text(encoding="utf-8")
    north.write_text(text + "  - id: [unclosed\n", encoding="utf-8")
    aged(north)
    with caplog.at_level(logging.INFO):
        outcome = watch.refresh()
        assert isinstance(outcome, Rejected)
        assert outcome.kept == inventory_digest(good)
        # the loader's own message: the file and where in it
        assert "regions/north.yaml: line " in str(outcome.error)
        assert watch.inventory is good
        # the same broken files: nothing more to say
        assert not watch.changed()
        assert watch.refresh() is None
        # saved again with the same mistake (a new time, the same text): still once
        aged(north)
        assert watch.changed()
        assert watch.refresh() is None
        rejected = [r for r in caplog.records if getattr(r, "action", None) == "inventory_rejected"]
        assert len(rejected) == 1
        assert rejected[0].digest == inventory_digest(good)[:12]  # type: ignore[attr-defined]
        # the fix is taken, and said (even a fix that restores the text in use)
        north.write_text(text, encoding="utf-8")
        aged(north)
        fixed = watch.refresh()
    assert isinstance(fixed, Reloaded)
    assert fixed.digest == inventory_digest(good)
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert [a for a in actions if a] == ["inventory_rejected", "inventory_reloaded"]


def test_a_fix_in_a_file_only_the_broken_edits_pattern_matches_is_noticed(main: Path) -> None:
    """The main file gains ``include: [more/*.yaml]`` and the new file is broken: the
    watch must look at more/ from then on, where the fix will be made."""
    watch = watched(main)
    more = write(main.parent / "more" / "east.yaml", {"branches": [branch(6)], "policy": {}})
    text = main.read_text(encoding="utf-8").replace(
        "- regions/*.yaml", "- regions/*.yaml\n- more/*.yaml"
    )
    main.write_text(text, encoding="utf-8")
    aged(more, main)
    outcome = watch.refresh()
    assert isinstance(outcome, Rejected)
    assert "more/east.yaml: policy: only 'branches' may be given" in str(outcome.error)
    write(more, {"branches": [branch(6)]})
    aged(more)
    assert watch.changed()
    fixed = watch.refresh()
    assert isinstance(fixed, Reloaded)
    assert fixed.inventory.branches[-1].id == "B6"


def test_a_branch_asked_for_must_stay(main: Path) -> None:
    watch = watched(main, branches={"B4"})
    south = main.parent / "regions" / "south.yaml"
    write(south, {"branches": [branch(7)]})
    aged(south)
    outcome = watch.refresh()
    assert isinstance(outcome, Rejected)
    assert str(outcome.error) == f"{main}: no branch B4 (asked for with --branch)"
    assert "B4" in {b.id for b in watch.inventory.branches}


def test_a_password_reference_that_stops_resolving_is_refused(
    main: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a reference that resolved before: a device whose password was missing when
    the command started is read as it was (its device reports ``config``)."""
    monkeypatch.delenv("VIDAUDIT_PW", raising=False)
    monkeypatch.delenv("VIDAUDIT_PW_B9", raising=False)
    south = main.parent / "regions" / "south.yaml"
    unresolved = branch(9)
    unresolved["devices"][0]["password"] = "${VIDAUDIT_PW_B9}"
    write(south, {"branches": [branch(4), unresolved]})
    aged(south)
    watch = watched(main, secrets=True)
    # an edit elsewhere is taken: B9's reference did not resolve at start either
    north = main.parent / "regions" / "north.yaml"
    write(north, {"branches": [branch(2)]})
    aged(north)
    assert isinstance(watch.refresh(), Reloaded)
    # the env file loses the password every other device names
    env = main.parent / "cameras.env"
    env.write_text("OTHER=1\n", encoding="utf-8")
    aged(env)
    with caplog.at_level(logging.INFO):
        outcome = watch.refresh()
    assert isinstance(outcome, Rejected)
    lines = str(outcome.error).splitlines()
    assert lines[0] == (
        f"{main}: branches[0].devices[0].password: environment variable VIDAUDIT_PW is not "
        f"set (not in the environment or {env.resolve()})"
    )
    assert any(
        line.startswith("regions/south.yaml: branches[0].devices[0].password") for line in lines
    )
    assert not any("B9" in line or "VIDAUDIT_PW_B9" in line for line in lines)
    assert "secret-one" not in caplog.text
    # the password comes back: taken
    env.write_text("VIDAUDIT_PW=secret-three\n", encoding="utf-8")
    aged(env)
    assert isinstance(watch.refresh(), Reloaded)


def test_a_file_changed_just_before_a_look_is_looked_at_again(main: Path) -> None:
    """A change within ``RACY_S`` of a look may be followed, within the same tick of the
    file's time, by another that a stat cannot tell apart: the look is not trusted."""
    south = main.parent / "regions" / "south.yaml"
    os.utime(south)  # changed now
    watch = watched(main)
    assert watch.changed()
    assert watch.refresh() is None  # read again: the same, so nothing to say
    aged(south)
    assert watch.changed()
    assert watch.refresh() is None
    assert not watch.changed()
    assert RACY_S >= 1


def test_a_main_file_that_cannot_be_read_is_rejected(main: Path) -> None:
    watch = watched(main)
    good = watch.inventory
    main.unlink()
    outcome = watch.refresh()
    assert isinstance(outcome, Rejected)
    assert isinstance(outcome.error, InventoryError)
    assert str(outcome.error) == f"{main}: file not found"
    assert watch.inventory is good


async def test_looks_go_on_after_a_look_that_fails(
    main: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A service's looks (``looks``): one that raises is logged and is nothing new; the
    next one still sees an edit."""
    watch = watched(main)
    fail = [True]
    refresh = watch.refresh

    def sometimes_failing() -> Reloaded | Rejected | None:
        if fail.pop() if fail else False:
            raise OSError("the disk went away for a moment")
        return refresh()

    monkeypatch.setattr(watch, "refresh", sometimes_failing)
    seen = looks(watch, 0.01)
    assert await anext(seen) is None
    assert any(getattr(r, "action", None) == "inventory_look_failed" for r in caplog.records)
    south = main.parent / "regions" / "south.yaml"
    write(south, {"branches": [branch(4) | {"name": "南区支行"}]})
    aged(south)
    outcome = await anext(seen)
    assert isinstance(outcome, Reloaded)
    assert outcome.inventory.branches[-1].name == "南区支行"
    await seen.aclose()
