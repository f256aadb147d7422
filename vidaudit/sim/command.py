"""``vidaudit sim``: run a simulated fleet until interrupted."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from vidaudit.inventory import InventoryError
from vidaudit.sim.plan import Api
from vidaudit.sim.scenario import GenerateSpec, Scenario, ScenarioError, load_scenario


def build_scenario(
    scenario_file: Path | None,
    nvrs: int,
    channels: int,
    cameras: int,
    seed: int | None,
    with_faults: bool,
    api: Api = Api.ONVIF,
) -> Scenario:
    """The scenario file (if any) with the flags layered on top."""
    flags_fleet = nvrs > 0 or cameras > 0
    if scenario_file is None:
        if not flags_fleet:
            raise ScenarioError("give --nvrs/--cameras, or a --scenario file")
        return Scenario(
            seed=seed or 0,
            generate=GenerateSpec(
                nvrs=nvrs, channels=channels, cameras=cameras, with_faults=with_faults, api=api
            ),
        )
    scenario = load_scenario(scenario_file)
    update: dict[str, object] = {}
    if seed is not None:
        update["seed"] = seed
    if flags_fleet:
        update["generate"] = GenerateSpec(
            nvrs=nvrs, channels=channels, cameras=cameras, with_faults=with_faults, api=api
        )
    return scenario.model_copy(update=update) if update else scenario


async def _run(
    scenario: Scenario,
    host: str,
    base_port: int | None,
    inventory_out: Path,
    truth_out: Path | None,
) -> None:
    # Imported here: the simulator renders video (OpenCV, PyAV); other commands do not.
    from vidaudit.sim.fleet import start_fleet

    fleet = await start_fleet(
        scenario, host=host, base_port=base_port, inventory_out=inventory_out, truth_out=truth_out
    )
    # The GB/T 28181 service its recorders register to runs in another process
    # (`vidaudit gb serve -c` the inventory written): it must be able to bind the port.
    fleet.release_gb_platform()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ports = sorted(fleet.ports.values())
        online = sum(not d.plan.offline for d in fleet.devices.values())
        channels = sum(len(d.channels) for d in fleet.devices.values())
        truth = f", truth {truth_out}" if truth_out else ""
        typer.echo(
            f"vidaudit sim ready: {len(fleet.devices)} devices ({online} online), {channels} "
            f"channels on {host}:{ports[0]}-{ports[-1]}; inventory {inventory_out}{truth}",
        )
        await stop.wait()
    finally:
        await fleet.stop()
    typer.echo("vidaudit sim stopped", err=True)


def sim_command(
    nvrs: Annotated[int, typer.Option("--nvrs", min=0, max=5000, help="NVRs to simulate")] = 0,
    channels: Annotated[
        int, typer.Option("--channels", min=1, max=256, help="channels per NVR")
    ] = 16,
    cameras: Annotated[
        int, typer.Option("--cameras", min=0, max=5000, help="stand-alone cameras")
    ] = 0,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", exists=True, dir_okay=False, help="scenario YAML")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="random seed (default 0)")] = None,
    inventory_out: Annotated[
        Path, typer.Option("--inventory-out", help="cameras.yaml to write for the fleet")
    ] = Path("cameras.sim.yaml"),
    truth_out: Annotated[
        Path | None, typer.Option("--truth-out", help="ground truth JSON to write")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="loopback address to listen on")
    ] = "127.0.0.1",
    base_port: Annotated[
        int | None,
        typer.Option("--base-port", min=1, max=65535, help="first port (default: ephemeral ports)"),
    ] = None,
    with_faults: Annotated[
        bool, typer.Option("--with-faults", help="give one generated device per fault kind")
    ] = False,
    api: Annotated[
        Api,
        typer.Option(
            "--api",
            help="what generated NVRs are read by: onvif (a vendor mix), or isapi / dahua "
            "(every NVR of that vendor, read through its own API)",
        ),
    ] = Api.ONVIF,
) -> None:
    """Run a simulated ONVIF fleet (NVRs and cameras) on loopback until interrupted."""
    try:
        built = build_scenario(scenario, nvrs, channels, cameras, seed, with_faults, api)
        asyncio.run(_run(built, host, base_port, inventory_out, truth_out))
    except (ScenarioError, InventoryError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"cannot open the fleet's ports: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    typer.run(sim_command)
