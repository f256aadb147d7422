"""``vidaudit register keygen|checkpoint|verify`` (registered in vidaudit/cli/main.py).

How a bank uses them:

1. ``vidaudit register keygen`` once, on the server, as the service account: writes the
   private key (0600) where VIDAUDIT_REGISTER_KEY points (default
   ``<data_dir>/register-key.pem``) and ``<key>.pub`` beside it, signs a first checkpoint,
   and prints the key's fingerprint.  The ``.pub`` file goes to the auditors (by hand,
   on paper with the fingerprint, not through the same server).
2. ``vidaudit register checkpoint`` from cron (e.g. hourly) where no web server runs.
3. ``vidaudit register verify --public-key auditor.pub --checkpoints kept.txt`` by the
   auditor, on any machine that can read the database: exit 0 only when every entry is
   signed by that key (or covered by a signed checkpoint), the chain holds from entry 1
   to the head, and every checkpoint the auditor kept is still in the chain.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import inspect

from vidaudit.cli.support import engine_or_exit, err, fail, messages
from vidaudit.db.engine import DatabaseMissing, make_engine
from vidaudit.review.checkpoints import Checkpoint, NotCheckpointed, checkpoint, read_file
from vidaudit.review.register import Verification, signed_sessions, verify
from vidaudit.review.signing import (
    KeyProblem,
    PublicKeys,
    generate_key,
    key_path_for_keygen,
    key_reference,
    load_public_key,
    load_signer,
)
from vidaudit.settings import Settings
from vidaudit.web.i18n import Translator

register_app = typer.Typer(help="The review register (D4).", no_args_is_help=True)
console = Console()


def describe(report: Verification, t: Translator) -> list[str]:
    """Each finding in the catalogue's words (``register.problem.<code>``)."""
    return [t(f"register.problem.{problem.code}", **problem.values) for problem in report.findings]


@register_app.command("keygen")
def register_keygen(
    out: Annotated[
        Path | None,
        typer.Option(help="where to write the private key (default: VIDAUDIT_REGISTER_KEY)"),
    ] = None,
) -> None:
    """Create the register's signing key (0600) and its public half for the auditors."""
    settings = Settings()
    try:
        configured: Path | None = key_path_for_keygen(settings)
    except KeyProblem as exc:
        if out is None:
            raise fail(str(exc)) from None
        configured = None
    target = out or configured
    assert target is not None
    try:
        new = generate_key(target)
    except KeyProblem as exc:
        raise fail(str(exc)) from None
    for label, text in (
        ("private key", f"{new.private_path}  (mode 600; only the service account reads it)"),
        ("public key", f"{new.public_path}  (give this file to the auditors)"),
        ("fingerprint", new.key_id),
    ):
        console.print(f"{label:12} {text}", highlight=False)
    if configured is None or target.resolve() != configured.resolve():
        console.print(f"set VIDAUDIT_REGISTER_KEY=file:{target.resolve()} for vidaudit to use it")
        return
    try:
        make_engine(settings, create=False).dispose()
    except DatabaseMissing:
        return  # no database yet: the first checkpoint comes with the first entries
    _checkpoint_now(settings, quiet_if_empty=True)


def _checkpoint_now(settings: Settings, *, quiet_if_empty: bool = False) -> None:
    try:
        signer = load_signer(settings)
    except KeyProblem as exc:
        raise fail(str(exc)) from None
    if signer is None:
        raise fail(
            f"no register key at {key_reference(settings)}: create one with "
            "`vidaudit register keygen`"
        )
    engine = engine_or_exit(settings)
    sessions = signed_sessions(settings, engine)
    try:
        made = checkpoint(sessions, signer, settings.checkpoints_file, dt.datetime.now(dt.UTC))
    except NotCheckpointed as exc:
        err.print(f"not signed: the register does not verify: {exc}", markup=False)
        raise typer.Exit(1) from None
    if made is None:
        if not quiet_if_empty:
            console.print("the register is empty: nothing to checkpoint")
        return
    console.print(made.line, highlight=False, soft_wrap=True)
    console.print(f"(also appended to {settings.checkpoints_file})", highlight=False)


@register_app.command("checkpoint")
def register_checkpoint() -> None:
    """Sign a checkpoint of the register head (for cron where no web server runs)."""
    _checkpoint_now(Settings())


@register_app.command("verify")
def register_verify(
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="the register's public key as the auditor holds it (repeat after a key "
            "change); default: the public half of VIDAUDIT_REGISTER_KEY",
        ),
    ] = None,
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            help="checkpoint lines kept outside the database (a copy of the checkpoints "
            "file, lines typed from weekly reports); default: VIDAUDIT_REGISTER_CHECKPOINTS",
        ),
    ] = None,
) -> None:
    """Check the register: chain from entry 1 to the head, every signature, every kept
    checkpoint still in the chain; exit 1 when anything was altered or deleted."""
    settings = Settings()
    keys = _public_keys(settings, public_key or [])
    kept, bad_lines = _kept_checkpoints(settings, checkpoints)
    engine = engine_or_exit(settings)
    if not inspect(engine).has_table("register_entries"):
        raise fail(
            "this database has no review register (no register_entries table): it is not a "
            "vidaudit database, or its register was dropped"
        )
    sessions = signed_sessions(settings, engine)
    with sessions() as session:
        report = verify(session, keys, kept)
    if not keys:
        report.add("no_public_key")
    for line in bad_lines:
        report.add("bad_line", source=line)
    for problem in describe(report, messages(settings)):
        err.print(problem, markup=False, highlight=False)
    state = "INTACT" if report.ok else "BROKEN"
    console.print(
        f"review register {state}: {report.entries} entries, head {report.head_hash}, "
        f"{report.checkpoints} checkpoints compared, signatures "
        + (f"checked with key {', '.join(keys.ids)}" if keys else "NOT checked"),
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(1)


def _public_keys(settings: Settings, files: list[Path]) -> PublicKeys:
    try:
        if files:
            return PublicKeys(load_public_key(f) for f in files)
        signer = load_signer(settings)
    except KeyProblem as exc:
        raise fail(str(exc)) from None
    return PublicKeys([signer.public] if signer is not None else [])


def _kept_checkpoints(
    settings: Settings, files: list[Path] | None
) -> tuple[list[Checkpoint], list[str]]:
    """The auditor's files, else the settings' checkpoints file if it exists."""
    paths = files or ([settings.checkpoints_file] if settings.checkpoints_file.is_file() else [])
    kept: list[Checkpoint] = []
    bad: list[str] = []
    for path in paths:
        try:
            found, wrong = read_file(path)
        except OSError as exc:
            raise fail(f"cannot read checkpoints {path}: {exc.strerror}") from None
        kept.extend(found)
        bad.extend(b.source for b in wrong)
    return kept, bad
