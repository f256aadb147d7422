"""``vidaudit probe DEVICE [--config FILE] [--capture DIR]``: a newcomer's first command
against a real NVR, and the way a device's behaviour reaches the test suite.

The work (running the calls, judging, building the capture) is in
``collector.device_probe``; this adapter parses options, checks the inventory and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vidaudit import aio
from vidaudit.capture.layout import MANIFEST, write_capture
from vidaudit.cli.support import credentials_or_exit, fail, inventory_or_exit
from vidaudit.collector.device_probe import (
    ProbeOutcome,
    capture,
    probe_one,
    probe_user,
    schema_problems,
)
from vidaudit.errors import ConfigError
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Inventory
from vidaudit.settings import Settings

console = Console(soft_wrap=True)


def _yes(value: bool) -> str:
    return "[green]yes[/]" if value else "[yellow]no[/]"


def _bytes(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _summary(outcome: ProbeOutcome, inventory: Inventory) -> None:
    report, probe = outcome.report, outcome.probe
    status = report.status
    tz = inventory.branch_timezone(outcome.branch)
    console.print(
        f"[bold]{outcome.device.id}[/] ({outcome.device.kind.value}, branch "
        f"{outcome.branch.id}) at {escape(str(outcome.device.url or outcome.device.onvif))}"
        + ("" if outcome.device.api.value == "onvif" else f" through {outcome.device.api.value}"),
        highlight=False,
    )
    if not status.online:
        console.print(
            f"  [red]cannot be read[/]: {status.error_kind.value if status.error_kind else '?'}"
            f" — {escape(status.error_message or '')}",
            highlight=False,
        )
    info = probe.info
    if info is not None:
        console.print(
            f"  identity: {info.manufacturer} {info.model}, firmware {info.firmware or '?'}",
            highlight=False,
            markup=False,
        )
    if status.clock_drift_s is not None:
        console.print(
            f"  clock: {status.clock_drift_s:+.1f} s against this computer "
            f"(allowed ±{inventory.policy.max_clock_drift_s:.0f} s)",
            highlight=False,
        )
    if report.services:
        services = set(report.services)
        console.print(f"  services: {', '.join(report.services)}", highlight=False)
        console.print(
            f"  recording search (Profile G): {_yes('search' in services)}; "
            f"replay: {_yes('replay' in services)}; recording control: "
            f"{_yes('recording' in services)}"
        )
    data = probe.recordings
    if data is not None:
        events = "unknown" if data.events is None else str(len(data.events))
        console.print(
            f"  recordings: {len(data.recordings)}; recording jobs: {len(data.jobs)}; media "
            f"profiles: {len(data.profiles)}; recording-state events in the window: {events}",
            highlight=False,
        )
    reading = probe.reading
    if reading is not None:
        console.print(
            f"  RTSP port for playback: {reading.rtsp_port or 'not given (554 assumed)'}",
            highlight=False,
        )
        if reading.disks is not None:
            for disk in reading.disks:
                console.print(
                    f"  disk {disk.id}: {disk.status}, {_bytes(disk.capacity_bytes)} bytes, "
                    f"{_bytes(disk.free_bytes)} free",
                    highlight=False,
                    markup=False,
                )
        for what, kind in reading.missing.items():
            console.print(f"  [yellow]not given[/] {escape(what)}: {kind}", highlight=False)
    for fact, why in report.unknown.items():
        console.print(f"  [yellow]unknown[/] {fact}: {escape(str(why))}", highlight=False)
    calls = outcome.exchanges
    failed = outcome.failed
    console.print(f"  calls made: {outcome.calls_made}; failed: {len(failed)}", highlight=False)
    for entry in failed:
        console.print(
            f"    [red]{escape(entry['operation'])}[/] {entry['kind']}: {escape(entry['message'])}",
            highlight=False,
        )
    off_schema = [(e.operation, schema_problems(e.reply)) for e in calls]
    off_schema = [(op, found) for op, found in off_schema if found]
    for operation, found in off_schema:
        console.print(
            f"  [yellow]reply off the ONVIF schema[/] {operation}: {escape(found[0])}",
            highlight=False,
        )
    for call in outcome.sampler:
        if call.operation == "GetRecordingJobState":
            state, error = escape(call.result or "?"), call.error
            if error is not None:
                state = (
                    f"[yellow]unknown[/] — {call.operation} {error.kind}: {escape(error.message)}"
                )
            console.print(f"  recording job {escape(call.subject)}: {state}", highlight=False)
        elif call.error is None and call.operation == "GetReplayUri":
            console.print(f"  replay {call.subject}: {call.result}", highlight=False, markup=False)
    if outcome.channels:
        table = Table(title="what vidaudit concludes", title_justify="left")
        for column in ("channel", "role", "recording", "state", "earliest", "retention", "gaps"):
            table.add_column(column)
        table.add_column("verdict")
        for channel in outcome.channels:
            e, r = channel.evidence, channel.result
            earliest = e.verified_earliest or e.earliest
            table.add_row(
                channel.channel_id,
                channel.role,
                "found" if e.recording_found else "[red]none[/]",
                e.recording_state.value,
                "?" if earliest is None else f"{earliest.astimezone(tz):%Y-%m-%d %H:%M}",
                "?" if r.retention_days is None else f"{r.retention_days:.1f}/{r.required_days} d",
                "unknown" if r.gaps is None else str(len(r.gaps)),
                "[green]compliant[/]"
                if r.compliant
                else "[red]" + ", ".join(v.rule for v in r.violations) + "[/]",
            )
        console.print(table)
        compliant = sum(c.result.compliant for c in outcome.channels)
        console.print(
            f"  {compliant}/{len(outcome.channels)} channels compliant; device "
            + ("online" if status.online else "offline")
            + (
                f"; device: {', '.join(v.rule for v in report.violations)}"
                if report.violations
                else ""
            ),
            highlight=False,
        )


def probe_command(
    device: Annotated[str, typer.Argument(help="the device id in cameras.yaml")],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="cameras.yaml (default: VIDAUDIT_INVENTORY)"),
    ] = None,
    capture_dir: Annotated[
        Path | None,
        typer.Option(
            "--capture",
            help="write every request and reply, redacted, with a manifest, into this new "
            "folder (the layout tests/captures/ replays)",
        ),
    ] = None,
) -> None:
    """Probe one device with every call collect and the sampler make; say what it supports
    and what vidaudit concludes, or save its redacted traffic as a regression test."""
    settings = Settings()
    path = config or settings.inventory
    inventory = inventory_or_exit(path)
    found = [(b, d) for b, d in inventory.devices() if d.id == device]
    if not found:
        raise fail(f"{path}: no device {device!r}")
    branch, configured = found[0]
    try:
        probe_user(configured)
    except ConfigError as exc:
        raise fail(f"{path}: {exc.message}") from None
    resolver = SecretResolver(inventory, path)
    credentials_or_exit(resolver, [configured])
    if capture_dir is not None and (capture_dir / MANIFEST).exists():
        raise fail(f"{capture_dir} already holds a capture; choose a new folder")
    outcome = aio.run(
        probe_one(
            inventory,
            branch,
            configured,
            resolver,
            settings.onvif(),
            http=settings.device_http(),
            lookback_days=settings.collector_lookback_days,
        )
    )
    _summary(outcome, inventory)
    if capture_dir is not None:
        password = resolver.credentials(configured).password.get_secret_value()
        manifest, calls = capture(outcome, inventory, password)
        capture_dir.mkdir(parents=True, exist_ok=True)
        written = write_capture(capture_dir, manifest, calls)
        console.print(
            f"capture: {len(calls)} calls, redacted, in {capture_dir} ({written.name}); "
            "drop the folder into tests/captures/ to make it a regression test",
            highlight=False,
        )
