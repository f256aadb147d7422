"""``vidaudit demo``: the whole job on the embedded default, for a newcomer.

Starts a small simulated fleet on loopback (the simulator in this process), writes its
inventory, checks it, brings the SQLite database up to date, runs the collector against
the fleet and prints what a security department would see.  This module is the one place
(besides the CLI) that wires the simulator to the product: neither imports the other.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console

from vidaudit.collector.report import channel_table, device_table
from vidaudit.collector.run import CollectResult, collect
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.db.migrate import upgrade
from vidaudit.inventory import check_secrets, load_inventory
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

console = Console()


def demo_scenario_text() -> str:
    return resources.files("vidaudit").joinpath("demo_scenario.yaml").read_text("utf-8")


async def run_demo(settings: Settings, workdir: Path) -> CollectResult:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    scenario = parse_scenario(yaml.safe_load(demo_scenario_text()))
    inventory_path = workdir / "cameras.sim.yaml"
    async with running_fleet(
        scenario, inventory_out=inventory_path, truth_out=workdir / "truth.json"
    ) as fleet:
        console.print(
            f"simulated fleet: {len(fleet.ports)} devices on 127.0.0.1, inventory {inventory_path}",
            highlight=False,
        )
        inventory = load_inventory(inventory_path)
        problems = check_secrets(inventory, inventory_path)
        if problems:
            raise RuntimeError("; ".join(str(p) for p in problems))
        engine = make_engine(settings)
        await asyncio.to_thread(upgrade, engine)
        result = await collect(settings, inventory, inventory_path, make_sessionmaker(engine))
    report = result.report
    console.print(device_table(report))
    console.print(channel_table(report))
    compliant = sum(c.result.compliant for c in report.channels)
    console.print(
        f"{compliant}/{len(report.channels)} channels compliant, {report.devices_down} "
        f"device(s) down; {result.tickets.opened} fault ticket(s) opened. Database: "
        f"{settings.effective_database_url}",
        highlight=False,
    )
    return result
