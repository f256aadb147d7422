"""``include:``: a provincial inventory split into a file per region, read as one, with
every problem named in the file and at the key path where it was written."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.inventory.test_load import minimal
from tests.inventory.test_sync import sessions_for
from vidaudit.db.models import DeviceRow, InventorySyncRow
from vidaudit.inventory import (
    InventoryError,
    check_secrets,
    load_inventory,
)
from vidaudit.inventory import load as loader
from vidaudit.inventory.schema import Inventory
from vidaudit.inventory.sync import sync_inventory


def branch(n: int) -> dict[str, Any]:
    """minimal()'s branch, its ids numbered ``n``."""
    template = minimal()["branches"][0]  # type: ignore[index]
    out: dict[str, Any] = copy.deepcopy(template)
    out["id"] = f"B{n}"
    for device in out["devices"]:
        device["id"] = f"B{n}-NVR"
        device["password"] = "${VIDAUDIT_PW}"
        for channel in device["channels"]:
            channel["id"] = channel["id"].replace("B1", f"B{n}")
    return out


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def split(tmp_path: Path, main_extra: dict[str, Any] | None = None) -> Path:
    """cameras.yaml with B1 and ``include: [regions/*.yaml]``; north holds B2 and B3,
    south B4."""
    write(tmp_path / "regions" / "north.yaml", {"branches": [branch(2), branch(3)]})
    write(tmp_path / "regions" / "south.yaml", {"branches": [branch(4)]})
    main = {
        "timezone": "Asia/Shanghai",
        "policy": {"retention_days": 45},
        "include": ["regions/*.yaml"],
        "branches": [branch(1)],
        **(main_extra or {}),
    }
    return write(tmp_path / "cameras.yaml", main)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return str(info.value).splitlines()


def test_included_branches_join_the_main_file_in_name_order(tmp_path: Path) -> None:
    inventory = load_inventory(split(tmp_path))
    assert [b.id for b in inventory.branches] == ["B1", "B2", "B3", "B4"]
    # the main file's policy holds for every branch, wherever it was written
    _b, _d, channel = inventory.find_channel("B4-C1")  # type: ignore[misc]
    assert inventory.required_days(channel) == 45
    assert len(inventory.channels()) == 8


def test_the_same_inventory_written_as_one_file_is_equal(tmp_path: Path) -> None:
    split_inventory = load_inventory(split(tmp_path / "split"))
    whole = {
        "timezone": "Asia/Shanghai",
        "policy": {"retention_days": 45},
        "branches": [branch(n) for n in (1, 2, 3, 4)],
    }
    one = load_inventory(write(tmp_path / "one.yaml", whole))
    assert one.model_dump() == split_inventory.model_dump()
    # the same files read twice are the same inventory
    assert load_inventory(tmp_path / "split" / "cameras.yaml") == split_inventory


def test_a_mistake_in_an_included_file_names_that_file_and_its_own_key_path(
    tmp_path: Path,
) -> None:
    main = split(tmp_path)
    south = yaml.safe_load((tmp_path / "regions" / "south.yaml").read_text(encoding="utf-8"))
    south["branches"].append(branch(5))
    south["branches"][1]["devices"][0]["kind"] = "toaster"
    write(tmp_path / "regions" / "south.yaml", south)
    lines = problems_of(main)
    assert len(lines) == 1
    assert lines[0].startswith("regions/south.yaml: branches[1].devices[0].kind: ")
    assert "toaster" in lines[0]


def test_an_id_used_in_two_files_names_both(tmp_path: Path) -> None:
    main = split(tmp_path)
    write(tmp_path / "regions" / "west.yaml", {"branches": [branch(2)]})
    lines = problems_of(main)
    assert (
        "regions/west.yaml: branches[0].id: duplicate branch id 'B2', first used at "
        "regions/north.yaml: branches[0].id"
    ) in lines
    assert len(lines) == 4  # the branch, its device and its two channels


def test_a_pattern_matching_nothing_is_named(tmp_path: Path) -> None:
    main = split(tmp_path, {"include": ["regions/*.yaml", "regoins/*.yaml"]})
    assert problems_of(main) == [f"{main}: include[1]: 'regoins/*.yaml' matches no file"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"policy": {"retention_days": 1}, "branches": [branch(9)]},
            "regions/z.yaml: policy: only 'branches' may be given in an included file",
        ),
        (
            {"include": ["*.yaml"], "branches": [branch(9)]},
            "regions/z.yaml: include: an included file cannot include others",
        ),
        ({"branch": [branch(9)]}, "regions/z.yaml: expected a mapping with a list of 'branches'"),
        ("branches: [\n", "regions/z.yaml: line 2, column 1: not valid YAML"),
    ],
)
def test_what_an_included_file_may_hold(tmp_path: Path, content: object, expected: str) -> None:
    main = split(tmp_path)
    if isinstance(content, str):
        (tmp_path / "regions" / "z.yaml").write_text(content, encoding="utf-8")
    else:
        write(tmp_path / "regions" / "z.yaml", content)
    lines = problems_of(main)
    assert any(line.startswith(expected) for line in lines), lines


def test_include_must_be_a_list_of_names(tmp_path: Path) -> None:
    main = split(tmp_path, {"include": "regions/*.yaml"})
    assert problems_of(main) == [
        f"{main}: include: expected a list of file names or patterns (regions/*.yaml)"
    ]


def test_each_file_and_all_of_them_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main = split(tmp_path)
    north = (tmp_path / "regions" / "north.yaml").stat().st_size
    monkeypatch.setattr(loader, "MAX_INVENTORY_BYTES", north - 1)
    assert f"regions/north.yaml: file is {north} bytes; at most {north - 1}" in problems_of(main)
    monkeypatch.setattr(loader, "MAX_INVENTORY_BYTES", 1 << 20)
    monkeypatch.setattr(loader, "MAX_INVENTORY_TOTAL_BYTES", north + 1)
    lines = problems_of(main)
    assert lines == [f"{main}: include: the included files exceed {north + 1} bytes in all"]
    monkeypatch.setattr(loader, "MAX_INVENTORY_TOTAL_BYTES", 1 << 20)
    monkeypatch.setattr(loader, "MAX_INCLUDED_FILES", 1)
    assert problems_of(main) == [f"{main}: include: names 2 files; at most 1"]


def test_a_password_that_does_not_resolve_is_named_where_it_was_written(tmp_path: Path) -> None:
    inventory = load_inventory(split(tmp_path))
    problems = check_secrets(inventory, tmp_path / "cameras.yaml", environ={})
    assert [str(p) for p in problems][-1] == (
        "regions/south.yaml: branches[0].devices[0].password: environment variable "
        "VIDAUDIT_PW is not set (not in the environment)"
    )
    assert check_secrets(inventory, tmp_path / "cameras.yaml", environ={"VIDAUDIT_PW": "x"}) == []


def test_a_change_to_an_included_file_is_a_change_of_the_inventory(
    tmp_path: Path, db_url: str
) -> None:
    main = split(tmp_path)
    sessions = sessions_for(db_url)
    now = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)

    def sync(inventory: Inventory) -> str:
        with sessions.begin() as session:
            sync_inventory(session, inventory, source=str(main), now=now)
            latest = select(InventorySyncRow.sha256).order_by(InventorySyncRow.id.desc())
            return session.scalars(latest).first() or ""

    loaded = load_inventory(main)
    # the main file's text, then each included file's under a line naming it
    read = main.read_text(encoding="utf-8") + "".join(
        f"\n# vidaudit include: {name}\n" + (tmp_path / name).read_text(encoding="utf-8")
        for name in ("regions/north.yaml", "regions/south.yaml")
    )
    first = sync(loaded)
    assert first == hashlib.sha256(read.encode("utf-8")).hexdigest()
    south = yaml.safe_load((tmp_path / "regions" / "south.yaml").read_text(encoding="utf-8"))
    south["branches"][0]["devices"][0]["name"] = "新录像机"
    write(tmp_path / "regions" / "south.yaml", south)
    # a process that loaded the files before the edit records what it applies
    assert sync(loaded) == first
    assert sync(load_inventory(main)) != first
    with sessions.begin() as session:
        assert session.get(DeviceRow, "B4-NVR") is not None


def test_config_check_names_the_included_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from vidaudit.cli import app

    monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("VIDAUDIT_PW", raising=False)
    main = split(tmp_path)
    result = CliRunner().invoke(app, ["config", "check", str(main)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "VIDAUDIT_PW is not set" in line]
    assert lines[0].startswith(f"{main}: branches[0].devices[0].password: ")
    assert lines[-1].startswith("regions/south.yaml: branches[0].devices[0].password: ")
    assert len(lines) == 4
