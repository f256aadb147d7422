"""``vidaudit demo``: the whole job on the embedded default, for a newcomer.

Starts a small simulated fleet on loopback (the simulator in this process), checks the
inventory it writes, brings the SQLite database up to date, runs the collector (with live
snapshots) against the fleet, proves retention by pulling a frame per channel, plans a
week of random counter spot-checks with their frames pulled, creates one demo account per
role (passwords printed once), then serves the web view and collects again every few
minutes until interrupted.  This module is the one place (besides the CLI) that wires the
simulator to the product: neither imports the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.accounts.users import create_user, hash_password
from vidaudit.collector.report import device_table, report_json
from vidaudit.collector.run import CollectResult, collect
from vidaudit.collector.snapshots import SnapshotOptions
from vidaudit.db.engine import make_engine
from vidaudit.db.migrate import upgrade
from vidaudit.db.models import UserRow
from vidaudit.evidence.store import EvidenceStore
from vidaudit.gbservice.follow import allowed_devices
from vidaudit.gbservice.service import GbService, running_service
from vidaudit.inventory import check_secrets, load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import ChannelRole, Inventory
from vidaudit.private_files import private_dir
from vidaudit.review.checkpoints import checkpoint
from vidaudit.review.register import signed_sessions
from vidaudit.review.signing import Signer, generate_key, key_path_for_keygen, load_signer
from vidaudit.sampler.gb_settings import gb_pull_settings
from vidaudit.sampler.plan import ALGORITHM, RandomPlanRequest, new_seed, random_plan
from vidaudit.sampler.retention import verify_channels
from vidaudit.sampler.store import save_plan
from vidaudit.sampler.tasks import Puller, planned_tasks, pull_planned
from vidaudit.settings import Settings
from vidaudit.sim import parse_scenario, running_fleet

console = Console()

#: How often the demo collects again while it serves.
COLLECT_EVERY = dt.timedelta(minutes=5)
#: How long the demo waits for its GB/T 28181 recorders to register (a recorder that
#: cannot -- the scenario may give one a wrong password -- shows as not registered).
REGISTER_WAIT_S = 10.0
FRAMES_PER_TASK = 4


def demo_scenario_text() -> str:
    return resources.files("vidaudit").joinpath("demo_scenario.yaml").read_text("utf-8")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    branch_id: str | None
    display_name: str
    password: str


def _accounts_for(inventory: Inventory) -> list[tuple[str, str, str | None, str]]:
    first = inventory.branches[0].id
    return [
        ("demo-security", "security", None, "保卫部 王科长"),
        ("demo-inspector", "inspector", None, "检查员 李检查"),
        ("demo-head", "branch_head", first, "网点负责人 张行长"),
        ("demo-admin", "administrator", first, "监控管理员 赵管理"),
        ("demo-auditor", "auditor", None, "审计 陈审计"),
    ]


def ensure_accounts(
    sessions: sessionmaker[Session], inventory: Inventory, now: dt.datetime
) -> list[DemoAccount]:
    """One account per role with a fresh random password each start (shown once)."""
    accounts = []
    with sessions.begin() as session:
        for username, role, branch, name in _accounts_for(inventory):
            password = secrets.token_urlsafe(9)
            existing = session.scalar(select(UserRow).where(UserRow.username == username))
            if existing is None:
                create_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    branch_id=branch,
                    display_name=name,
                    now=now,
                )
            else:
                session.execute(
                    update(UserRow)
                    .where(UserRow.id == existing.id)
                    .values(password_hash=hash_password(password), disabled_at=None)
                )
            accounts.append(DemoAccount(username, role, branch, name, password))
    return accounts


async def plan_and_pull(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    sessions: sessionmaker[Session],
    now: dt.datetime,
) -> tuple[int, int]:
    """A week of random counter spot-checks, their frames pulled: (tasks, frames)."""
    tz = inventory.branch_timezone(inventory.branches[0])
    first = now.astimezone(tz).date() - dt.timedelta(days=7)
    request = RandomPlanRequest(
        count=2 * len(inventory.branches),
        period_start=first,
        period_days=7,
        roles=frozenset({ChannelRole.COUNTER}),
    )
    seed = new_seed()
    tasks = random_plan(inventory, request, seed)
    with sessions.begin() as session:
        plan = save_plan(
            session,
            kind="random",
            created_by="demo-security",
            now=now,
            tasks=tasks,
            params={
                "period_start": first.isoformat(),
                "period_days": 7,
                "roles": ["counter"],
                "count": request.count,
                "window_min": 10,
            },
            frames_per_task=FRAMES_PER_TASK,
            seed=seed,
            algorithm=ALGORITHM,
        )
        plan_id = plan.id
    puller = Puller(
        inventory,
        sessions,
        EvidenceStore(settings.evidence_dir),
        SecretResolver(inventory, inventory_path),
        settings.onvif(),
        gb_pull_settings(settings, inventory),
    )
    pulls = await pull_planned(
        puller,
        planned_tasks(sessions, plan_id),
        actor="demo-security",
        actor_role="security",
        now=now,
    )
    # a task on a device the scenario keeps down stays planned
    return len(pulls), sum(p.frames for p in pulls)


def _summary(result: CollectResult) -> None:
    report = result.report
    zones = {d.branch_id: ZoneInfo("UTC") for d in report.devices}
    console.print(device_table(report_json(report, zones)))
    compliant = sum(c.result.compliant for c in report.channels)
    console.print(
        f"{compliant}/{len(report.channels)} channels compliant, {report.devices_down} "
        f"device(s) down, {result.tickets.opened} fault ticket(s) opened",
        highlight=False,
    )


async def _collect_forever(
    settings: Settings, inventory: Inventory, path: Path, sessions: sessionmaker[Session]
) -> None:
    while True:
        await asyncio.sleep(COLLECT_EVERY.total_seconds())
        # one run at a time: the next starts only after this one has finished
        await collect(settings, inventory, path, sessions, snapshots=SnapshotOptions())


async def run_demo(
    settings: Settings, workdir: Path, *, serve: bool = True, port: int | None = None
) -> CollectResult:
    await asyncio.to_thread(private_dir, workdir)
    scenario = parse_scenario(yaml.safe_load(demo_scenario_text()))
    inventory_path = workdir / "cameras.sim.yaml"
    async with running_fleet(
        scenario, inventory_out=inventory_path, truth_out=workdir / "truth.json"
    ) as fleet:
        console.print(
            f"1/5 simulated fleet: {len(fleet.ports)} devices on 127.0.0.1, "
            f"inventory {inventory_path}",
            highlight=False,
        )
        # the web view and the frame pulls read the fleet's inventory
        settings = settings.model_copy(update={"inventory": inventory_path})
        inventory = load_inventory(inventory_path)
        problems = check_secrets(inventory, inventory_path)
        if problems:
            raise RuntimeError("; ".join(str(p) for p in problems))
        engine = make_engine(settings)
        await asyncio.to_thread(upgrade, engine)
        signer = await asyncio.to_thread(_register_key, settings)
        sessions = signed_sessions(settings, engine)
        async with contextlib.AsyncExitStack() as stack:
            if inventory.gb28181 is not None:
                service = await stack.enter_async_context(
                    running_service(
                        settings,
                        inventory,
                        inventory_path,
                        sessions,
                        sip_sockets=fleet.gb_sip_sockets,
                    )
                )
                registered = await _await_registrations(service, inventory)
                console.print(
                    f"   GB/T 28181 platform on {inventory.gb28181.listen}: "
                    f"{registered} recorder(s) registered",
                    highlight=False,
                )
            return await _demo_steps(
                settings, inventory, inventory_path, engine, sessions, signer, serve, port
            )


async def _await_registrations(service: GbService, inventory: Inventory) -> int:
    """Give the fleet's recorders a moment to register (they retry every 2 s)."""
    wanted = set(allowed_devices(inventory))
    loop = asyncio.get_running_loop()
    until = loop.time() + REGISTER_WAIT_S
    while loop.time() < until:
        if all(service.platform.registration(gb_id) for gb_id in wanted):
            break
        await asyncio.sleep(0.2)
    return sum(service.platform.registration(gb_id) is not None for gb_id in wanted)


async def _demo_steps(
    settings: Settings,
    inventory: Inventory,
    inventory_path: Path,
    engine: Engine,
    sessions: sessionmaker[Session],
    signer: Signer,
    serve: bool,
    port: int | None,
) -> CollectResult:
    result = await collect(
        settings, inventory, inventory_path, sessions, snapshots=SnapshotOptions()
    )
    console.print("2/5 collector run with live snapshots:")
    _summary(result)
    now = dt.datetime.now(dt.UTC)
    checks = await verify_channels(
        inventory.channels(),
        inventory,
        sessions=sessions,
        store=EvidenceStore(settings.evidence_dir),
        resolver=SecretResolver(inventory, inventory_path),
        onvif_settings=settings.onvif(),
        now=now,
        actor="demo-security",
        gb=gb_pull_settings(settings, inventory),
    )
    console.print(
        f"3/5 retention proven by footage on {sum(c.ok for c in checks)}/{len(checks)} "
        "channels (the others are short, or their device is down)",
        highlight=False,
    )
    tasks, frames = await plan_and_pull(settings, inventory, inventory_path, sessions, now)
    console.print(
        f"4/5 spot-check plan: {tasks} counter windows, {frames} frames pulled",
        highlight=False,
    )
    # collect once more so the dashboard shows retention verified by those frames
    result = await collect(
        settings, inventory, inventory_path, sessions, snapshots=SnapshotOptions()
    )
    made = await asyncio.to_thread(
        checkpoint, sessions, signer, settings.checkpoints_file, dt.datetime.now(dt.UTC)
    )
    if made is not None:
        console.print(
            f"register checkpoint: entry {made.seq}, appended to {settings.checkpoints_file}",
            highlight=False,
        )
    accounts = await asyncio.to_thread(ensure_accounts, sessions, inventory, now)
    url = f"http://{settings.web_host}:{port or settings.web_port}/"
    title = f"5/5 web view: {url}" if serve else "demo accounts (the web view: vidaudit serve)"
    # Printed with --no-serve too: the passwords were just reset, and this is the only
    # place they are ever shown.
    table = Table(title=f"{title}  (passwords are shown only now)", title_justify="left")
    for column in ("user", "password", "role", "branch"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            account.username, account.password, account.display_name, account.branch_id or "all"
        )
    console.print(table)
    if not serve:
        return result
    console.print("Ctrl-C stops the demo.", highlight=False)
    await _serve(settings, engine, port)
    return result


def _register_key(settings: Settings) -> Signer:
    """The demo signs its register like a bank would: with the settings' key, made here
    (as `vidaudit register keygen` does) when there is none yet."""
    signer = load_signer(settings)
    if signer is None:
        new = generate_key(key_path_for_keygen(settings))
        console.print(
            f"register key created: {new.private_path} (public half {new.public_path}, "
            f"fingerprint {new.key_id})",
            highlight=False,
        )
        signer = load_signer(settings)
        assert signer is not None
    return signer


async def _serve(settings: Settings, engine: Engine, port: int | None) -> None:
    import uvicorn

    from vidaudit.cli.web import uvicorn_options
    from vidaudit.web.app import create_app

    app = create_app(settings, engine, alerts=True)
    options = uvicorn_options(settings, None, port)
    server = uvicorn.Server(uvicorn.Config(app, **{**options, "log_level": "warning"}))
    inventory = load_inventory(settings.inventory)
    sessions = signed_sessions(settings, engine)
    collector = asyncio.create_task(
        _collect_forever(settings, inventory, settings.inventory, sessions)
    )
    try:
        await server.serve()
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
