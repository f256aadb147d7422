"""``vidaudit collect --every`` takes up an edited cameras.yaml at its next run, without
a restart: a recorder added is collected in the next run; a broken edit keeps the last
good inventory and is said once; its fix is taken.  The real command, in this process,
against a simulated fleet in its own process; only the wait between runs is the test's:
each is where the security department edits the file."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from tests.collector.test_collect_cli import env  # noqa: F401 (fixture: a SQLite data folder)
from tests.sim_process import sim_process
from vidaudit.alerts.service import AlertService
from vidaudit.cli import app
from vidaudit.cli import collect as collect_module
from vidaudit.cli.collect import take_up_edits
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.inventory import inventory_digest, load_inventory
from vidaudit.inventory.watch import InventoryWatch
from vidaudit.settings import Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("everyfleet")
    inventory = tmp / "cameras.sim.yaml"
    args = ("--nvrs", "3", "--channels", "2", "--cameras", "0", "--seed", "5")
    with sim_process(*args, "--inventory-out", str(inventory)):
        yield inventory


def fleet_data(fleet: Path) -> dict[str, Any]:
    """The simulator's inventory as data, its env file named so that a copy elsewhere
    finds it."""
    data: dict[str, Any] = yaml.safe_load(fleet.read_text(encoding="utf-8"))
    data["env_file"] = str((fleet.parent / data["env_file"]).resolve())
    return data


def without(data: dict[str, Any], device_id: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for branch in out["branches"]:
        branch["devices"] = [d for d in branch["devices"] if d["id"] != device_id]
    out["branches"] = [b for b in out["branches"] if b["devices"]]
    return out


def devices_of(data: dict[str, Any]) -> list[str]:
    return [d["id"] for b in data["branches"] for d in b["devices"]]


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


class Stop(Exception):
    """Ends the otherwise endless loop after the test's last step."""


def collected_by_run(env: Path) -> dict[int, set[str]]:  # noqa: F811
    engine = sa.create_engine(f"sqlite:///{env / 'data' / 'vidaudit.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id, device_id FROM device_observations")).all()
    engine.dispose()
    out: dict[int, set[str]] = {}
    for run_id, device_id in rows:
        out.setdefault(run_id, set()).add(device_id)
    return out


def synced_digests(env: Path) -> list[str]:  # noqa: F811
    engine = sa.create_engine(f"sqlite:///{env / 'data' / 'vidaudit.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sha256 FROM inventory_syncs ORDER BY id")).all()
    engine.dispose()
    return [digest for (digest,) in rows]


def between_runs(monkeypatch: pytest.MonkeyPatch, steps: list[Callable[[], None]]) -> None:
    """The loop's wait between two runs becomes the test's next step; after the last,
    the loop ends."""
    pending = list(steps)

    def sleep(_seconds: float) -> None:
        if not pending:
            raise Stop
        pending.pop(0)()

    import time

    monkeypatch.setattr(
        collect_module, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep)
    )


def test_collect_every_takes_up_edits_between_runs(
    fleet: Path,
    env: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = fleet_data(fleet)
    everything = devices_of(data)
    added, dropped = everything[-1], everything[0]
    config = env / "cameras.yaml"
    write(config, without(data, added))
    broken_text = yaml.safe_dump(data, allow_unicode=True).replace("branches:", "branches: [", 1)
    fixed = without(data, dropped)

    def add_recorder() -> None:
        write(config, data)

    def break_it() -> None:
        config.write_text(broken_text, encoding="utf-8")

    def keep_broken() -> None:
        pass

    def fix_it() -> None:
        write(config, fixed)

    between_runs(monkeypatch, [add_recorder, break_it, keep_broken, fix_it])
    result = runner.invoke(app, ["collect", "-c", str(config), "--every", "10s", "-f", "json"])
    assert isinstance(result.exception, Stop), result.output

    runs = collected_by_run(env)
    assert sorted(runs) == [1, 2, 3, 4, 5], runs
    assert runs[1] == set(everything) - {added}
    assert runs[2] == set(everything)  # the recorder added, collected at the next run
    # the broken file: the last good inventory, two runs long
    assert runs[3] == runs[4] == set(everything)
    assert runs[5] == set(everything) - {dropped}  # the fix, taken

    # said once, with the loader's own message naming the file and where
    rejected = [line for line in result.output.splitlines() if "cannot be used" in line]
    assert len(rejected) == 1, result.output
    assert f"{config}: line " in result.output
    taken = [line for line in result.output.splitlines() if "using it from now on" in line]
    assert len(taken) == 2, result.output
    # each inventory sync recorded what that run applied
    assert synced_digests(env)[-1] == inventory_digest(load_inventory(config))
    assert len(set(synced_digests(env))) == 3


def test_the_alerts_beside_the_runs_get_the_new_inventory(
    fleet: Path,
    env: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``collect --every`` decides alerts (branch hours, the policy) in a thread of its
    own: it must judge by the inventory the runs use."""
    data = fleet_data(fleet)
    config = tmp_path / "alerts.yaml"
    write(config, without(data, devices_of(data)[-1]))
    inventory = load_inventory(config)
    settings = Settings(data_dir=env / "data")
    alerts = AlertService(
        settings, make_sessionmaker(make_engine(settings)), lambda _l: str, inventory=inventory
    )
    watch = InventoryWatch(config, inventory, secrets=True)
    write(config, data)
    taken = take_up_edits(watch, alerts)
    assert devices_of(data) == [d.id for _b, d in taken.devices()]
    assert alerts.inventory is taken
