"""``vidaudit serve`` and ``vidaudit user add|list|disable`` (registered in vidaudit/cli/main.py).

Exit status 2 for a usage problem: an out-of-date schema, an unknown role or branch, a
password too short or not confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from vidaudit.accounts.roles import PersonRole
from vidaudit.accounts.users import UserError, create_user, disable_user, set_email
from vidaudit.cli.support import engine_or_exit
from vidaudit.db.engine import make_sessionmaker
from vidaudit.db.models import UserRow
from vidaudit.review.register import signed_sessions
from vidaudit.review.signing import KeyProblem, load_signer
from vidaudit.settings import Settings

if TYPE_CHECKING:
    from vidaudit.web.state import WebState

USAGE_ERROR = 2

console = Console()
err = Console(stderr=True, soft_wrap=True)

user_app = typer.Typer(help="Accounts for the web view.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(USAGE_ERROR)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return make_sessionmaker(engine_or_exit(settings))


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="address to listen on (default VIDAUDIT_WEB_HOST)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="port to listen on (default VIDAUDIT_WEB_PORT; 0: any free one)"),
    ] = None,
) -> None:
    """Serve the web view (FastAPI under uvicorn) on the settings' database."""
    import uvicorn

    from vidaudit.web.app import create_app
    from vidaudit.web.state import web_state

    settings = Settings()
    engine = engine_or_exit(settings)
    try:
        # A key that exists but must not be used (readable by others) stops the server
        # here rather than leaving every entry unsigned.
        load_signer(settings)
    except KeyProblem as exc:
        raise _fail(str(exc)) from None
    # alerts=True: the app's lifespan runs the alert scheduler and outbox drainer beside
    # the register checkpoints; the GB/T 28181 service runs beside the server.
    app = create_app(settings, engine, alerts=True)
    config = uvicorn.Config(app, **uvicorn_options(settings, host, port))
    asyncio.run(_serve_with_gb28181(settings, engine, uvicorn.Server(config), web_state(app)))


def uvicorn_options(settings: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    """How ``serve`` (and the demo) run uvicorn."""
    return {
        "host": host or settings.web_host,
        "port": settings.web_port if port is None else port,
        # The app reads the forwarded headers itself (web/app.py), so they mean the
        # same under any server and in tests; uvicorn must not rewrite them first.
        "proxy_headers": False,
        "server_header": False,
        "log_level": settings.log_level.lower(),
    }


async def _serve_with_gb28181(
    settings: Settings, engine: Engine, server: Any, state: WebState
) -> None:
    """The web view, and the GB/T 28181 service beside it when the inventory has a
    ``gb28181`` section: recorders must be able to register while the view is up.  The
    service uses the web view's inventory, at start and as the view's watch keeps it
    current (a province's takes 40 s to parse and 688 MB to hold: once, not twice)."""
    inventory = state.inventory
    async with contextlib.AsyncExitStack() as stack:
        if inventory is not None and inventory.gb28181 is not None:
            from vidaudit.gbservice.service import running_service
            from vidaudit.inventory.load import SecretResolver

            path = settings.inventory
            problem = SecretResolver(inventory, path).platform_problem(inventory.gb28181)
            if problem is not None:
                raise _fail(f"{path}: gb28181.password: {problem}")
            await stack.enter_async_context(
                running_service(
                    settings,
                    inventory,
                    path,
                    signed_sessions(settings, engine),
                    current=lambda: state.inventory,
                )
            )
        await server.serve()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        # Only the line ending goes: a password may legitimately contain spaces.
        return line.removesuffix("\n").removesuffix("\r")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name (1-64 characters, no spaces)")],
    role: Annotated[
        PersonRole, typer.Option(case_sensitive=False, help="what the person does (see README)")
    ],
    branch: Annotated[
        str | None,
        typer.Option(help="the branch id, for branch_head and administrator"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="display name, e.g. 张三")] = None,
    locale: Annotated[str, typer.Option(help="zh or en")] = "zh",
    email: Annotated[
        str | None, typer.Option(help="where e-mail alerts reach the person (optional)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from one stdin line")
    ] = False,
) -> None:
    """Create a web account; prompts for the password twice unless --password-stdin."""
    if locale not in ("zh", "en"):
        raise _fail("--locale must be zh or en")
    sessions = _sessions(Settings())
    password = _read_password(password_stdin)
    try:
        with sessions.begin() as session:
            user = create_user(
                session,
                username=username,
                password=password,
                role=role.value,
                branch_id=branch,
                display_name=name,
                now=dt.datetime.now(dt.UTC),
                locale=locale,
                email=email,
            )
            summary = f"user {user.username} added: role {user.role}, " + (
                f"branch {user.branch_id}" if user.branch_id else "all branches"
            )
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(summary, highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List web accounts (never their password hashes)."""
    sessions = _sessions(Settings())
    with sessions() as session:
        users = session.scalars(select(UserRow).order_by(UserRow.username)).all()
    table = Table(title=f"{len(users)} users", title_justify="left")
    for column in ("username", "name", "role", "branch", "language", "e-mail", "created", "state"):
        table.add_column(column)
    for user in users:
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            user.branch_id or "(all)",
            user.locale,
            user.email or "",
            f"{user.created_at:%Y-%m-%d %H:%M} UTC",
            f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active",
        )
    console.print(table)


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Disable an account and end its sessions (the row is kept: records name it)."""
    sessions = _sessions(Settings())
    try:
        with sessions.begin() as session:
            disable_user(session, username, dt.datetime.now(dt.UTC))
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(f"user {username} disabled; their sessions have ended", highlight=False)


@user_app.command("email")
def user_email(
    username: Annotated[str, typer.Argument(help="login name")],
    address: Annotated[str, typer.Argument(help="e-mail address; '' removes it")],
) -> None:
    """Set where e-mail alerts reach a person (see the README's alert rules)."""
    sessions = _sessions(Settings())
    try:
        with sessions.begin() as session:
            user = set_email(session, username, address or None)
            shown = user.email or "(none)"
    except UserError as exc:
        raise _fail(str(exc)) from None
    console.print(f"user {username}: e-mail {shown}", highlight=False)
