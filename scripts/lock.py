#!/usr/bin/env python3
"""The Python dependency locks in requirements/: make, check, add to.

    scripts/lock.py check                   exit 1, saying why, when a lock is stale or edited
    scripts/lock.py compile [--upgrade] [--upgrade-package NAME ...]      (`make lock`)
    scripts/lock.py add 'REQ' [--extra NAME | --group NAME]               (`make add`)
    .venv/bin/python scripts/lock.py prune  uninstall what the dev lock no longer has

pyproject.toml holds the compatible ranges; the locks hold the exact versions, with the
sha256 of every file PyPI has for them, that `pip install --require-hashes` installs:

    requirements/dev.lock       what scripts/bootstrap.sh puts in .venv (make demo, make
                                test, CI): the package, its test extra, the dev group
    requirements/runtime.lock   the package alone, at the same versions: a deployment's
                                `pip install --require-hashes -r`, and the wheel test's
    requirements/ipycam.lock    the third-party ONVIF camera the tests run in its own venv
                                (from requirements/ipycam.in)

requirements/constraints.txt caps packages pyproject.toml does not name (each with why).

The locks are made by uv (`uv pip compile --universal --generate-hashes`, pinned in the dev
lock itself).  Compiling keeps every pin that still fits unless asked to upgrade.  Each lock
starts with two checksums that `check` (run by bootstrap) recomputes: one of the inputs it
was compiled from (the dependency parts of pyproject.toml, the .in files, the options
below), so a range changed without `make lock` fails loudly; and one of its own body, so a
version edited by hand fails as loudly.

Standard library only: bootstrap runs it before the venv has anything in it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
REQS = ROOT / "requirements"
DEV, RUNTIME, IPYCAM = REQS / "dev.lock", REQS / "runtime.lock", REQS / "ipycam.lock"
IPYCAM_IN = REQS / "ipycam.in"
CONSTRAINTS = REQS / "constraints.txt"
UV = ROOT / ".venv" / "bin" / "uv"

# Part of the inputs' checksum: changing how locks are compiled makes them stale.
# --fork-strategy fewest: one version of each package for every Python the project
# supports (>= 3.11), so a newer interpreter does not run untested versions.
UV_OPTIONS = (
    "--universal",
    "--python-version=3.11",
    "--fork-strategy=fewest",
    "--generate-hashes",
    "--custom-compile-command=make lock",
)
CHECK_PREFIX = "# vidaudit-lock "


class LockError(Exception):
    pass


def _pyproject() -> dict[str, object]:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


def inputs_digest(lock: Path) -> str:
    """What a lock depends on; any change in it means `make lock`."""
    data = _pyproject()
    project = data["project"]
    assert isinstance(project, dict)
    inputs: dict[str, object] = {"uv-options": UV_OPTIONS, "lock": lock.name}
    if lock == IPYCAM:
        inputs["in"] = IPYCAM_IN.read_text()
    else:
        inputs["constraints"] = CONSTRAINTS.read_text()
        inputs["requires-python"] = project.get("requires-python")
        inputs["dependencies"] = sorted(project.get("dependencies", []))
        if lock == DEV:
            extras = project.get("optional-dependencies", {})
            groups = data.get("dependency-groups", {})
            assert isinstance(extras, dict) and isinstance(groups, dict)
            inputs["extras"] = {k: sorted(v) for k, v in extras.items()}
            inputs["groups"] = {k: sorted(v) for k, v in groups.items()}
            build = data.get("build-system", {})
            assert isinstance(build, dict)
            inputs["build"] = sorted(build.get("requires", []))
    blob = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _split(text: str) -> tuple[dict[str, str], str]:
    """The checksum lines a lock starts with, and the rest of it."""
    sums: dict[str, str] = {}
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(CHECK_PREFIX):
        key, _, value = lines.pop(0)[len(CHECK_PREFIX) :].strip().partition("=")
        sums[key] = value
    return sums, "".join(lines)


def check(lock: Path) -> None:
    rel = lock.relative_to(ROOT)
    if not lock.is_file():
        raise LockError(f"{rel} is missing: run `make lock`")
    sums, body = _split(lock.read_text())
    if sums.get("body-sha256") != hashlib.sha256(body.encode()).hexdigest():
        raise LockError(
            f"{rel} was edited by hand (its body no longer matches the checksum `make lock` "
            "wrote): change pyproject.toml and run `make lock` (or `make add DEP=...`)"
        )
    if sums.get("inputs-sha256") != inputs_digest(lock):
        raise LockError(
            f"{rel} was not compiled from the current pyproject.toml"
            + (" and requirements/ipycam.in" if lock == IPYCAM else "")
            + ": run `make lock` and commit the lock with the change"
        )


def _write(lock: Path, body: str) -> None:
    head = (
        f"{CHECK_PREFIX}inputs-sha256={inputs_digest(lock)}\n"
        f"{CHECK_PREFIX}body-sha256={hashlib.sha256(body.encode()).hexdigest()}\n"
    )
    lock.write_text(head + body)


def _uv_compile(
    lock: Path, args: list[str], extra: list[str], aliases: dict[str, str] | None = None
) -> None:
    """Compile into `lock`, keeping its current pins as preferences; `aliases` renames
    temporary files in uv's "via" notes so that the lock does not change with them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / lock.name
        if lock.is_file():
            out.write_text(_split(lock.read_text())[1])
        cmd = [str(UV), "pip", "compile", "--quiet", *UV_OPTIONS, *args, "-o", str(out), *extra]
        env = dict(os.environ, UV_NO_CONFIG="1")
        subprocess.run(cmd, cwd=ROOT, check=True, env=env)
        body = out.read_text()
        for temporary, name in (aliases or {}).items():
            body = body.replace(temporary, name)
        _write(lock, body)
    print(f"lock: wrote {lock.relative_to(ROOT)}", file=sys.stderr)


def _ensure_uv() -> None:
    """uv is pinned in the dev lock; install just it (hash-checked) when .venv lacks it."""
    if UV.exists():
        return
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
    _, body = _split(DEV.read_text()) if DEV.is_file() else ({}, "")
    stanza = re.search(r"^uv==\S+.*?(?=^\S|\Z)", body, re.MULTILINE | re.DOTALL)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as req:
        req.write(stanza.group(0) if stanza else "uv\n")  # no lock yet: the first one
        req.flush()
        hashes = ["--require-hashes"] if stanza else []
        pip = [str(python), "-m", "pip", "install", "-q", "--no-deps", *hashes, "-r", req.name]
        subprocess.run(pip, check=True)


def compile_all(upgrade: list[str]) -> None:
    _ensure_uv()
    caps = ["-c", str(CONSTRAINTS.relative_to(ROOT))]
    dev_inputs = ["pyproject.toml", "--all-extras", "--group=pyproject.toml:dev", *caps]
    _uv_compile(DEV, upgrade, dev_inputs)
    # The runtime lock takes the dev lock's versions: what is tested is what is deployed.
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
        pins.write(re.sub(r" \\\n\s+--hash=\S+", "", _split(DEV.read_text())[1]))
        pins.flush()
        dev = str(DEV.relative_to(ROOT))
        _uv_compile(RUNTIME, [], ["pyproject.toml", "-c", pins.name], {pins.name: dev})
    _uv_compile(IPYCAM, upgrade, [str(IPYCAM_IN.relative_to(ROOT))])


def with_requirement(text: str, requirement: str, table: str, key: str) -> str:
    """pyproject.toml's text with `requirement` appended to `key`'s list in `table`,
    keeping its layout (a new list at the end of the table when there is none)."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == table)
    except StopIteration:
        raise LockError(f"pyproject.toml has no {table} table") from None
    opening = re.compile(rf"^{re.escape(key)}\s*=\s*\[\s*$")
    entry = f"    {json.dumps(requirement)},\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start + 1, end):
        if re.match(rf"^{re.escape(key)}\s*=", lines[i]) and not opening.match(lines[i]):
            raise LockError(f"{table} {key} is not a list with one entry a line")
        if opening.match(lines[i]):
            close = next(j for j in range(i, len(lines)) if lines[j].strip() == "]")
            lines.insert(close, entry)
            break
    else:
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        lines[end:end] = [f"{key} = [\n", entry, "]\n"]
    return "".join(lines)


def add(requirement: str, extra: str | None, group: str | None) -> None:
    """Add a requirement to pyproject.toml's list, then relock; undone if that fails."""
    if extra:
        table, key = "[project.optional-dependencies]", extra
    elif group:
        table, key = "[dependency-groups]", group
    else:
        table, key = "[project]", "dependencies"
    original = PYPROJECT.read_text()
    PYPROJECT.write_text(with_requirement(original, requirement, table, key))
    try:
        compile_all([])
    except (subprocess.CalledProcessError, LockError):
        PYPROJECT.write_text(original)
        print("lock: the requirement was not added (pyproject.toml restored)", file=sys.stderr)
        raise


def _name(requirement: str) -> str:
    """A distribution's normalised name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s=<>!~;\[]", requirement, maxsplit=1)[0]).lower()


def prune() -> None:
    """Run by the venv's python: remove distributions the dev lock does not list."""
    from importlib import metadata

    locked = {_name(line) for line in _split(DEV.read_text())[1].splitlines() if line[:1].isalnum()}
    locked.add(_name(_pyproject()["project"]["name"]))  # type: ignore[index]
    extra = sorted({_name(d.metadata["Name"]) for d in metadata.distributions()} - locked)
    if extra:
        print(f"lock: removing what the lock no longer lists: {' '.join(extra)}", file=sys.stderr)
        pip = [sys.executable, "-m", "pip", "uninstall", "-q", "-y", *extra]
        subprocess.run(pip, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="fail when a lock is stale or was edited by hand")
    sub.add_parser("prune", help="uninstall from this interpreter what the dev lock lacks")
    comp = sub.add_parser("compile", help="make the locks (keeps pins unless upgrading)")
    comp.add_argument("--upgrade", action="store_true", help="newest versions the ranges allow")
    comp.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    adding = sub.add_parser("add", help="add a requirement to pyproject.toml and relock")
    adding.add_argument("requirement", help="e.g. 'xmlschema>=3.4'")
    where = adding.add_mutually_exclusive_group()
    where.add_argument("--extra", help="an optional-dependencies extra (e.g. test)")
    where.add_argument("--group", help="a dependency group (e.g. dev)")
    args = parser.parse_args()
    try:
        if args.command == "check":
            for lock in (DEV, RUNTIME, IPYCAM):
                check(lock)
        elif args.command == "prune":
            prune()
        elif args.command == "compile":
            upgrade = ["--upgrade"] if args.upgrade else []
            upgrade += [f"--upgrade-package={name}" for name in args.upgrade_package]
            compile_all(upgrade)
        else:
            add(args.requirement, args.extra, args.group)
    except LockError as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"lock: {' '.join(map(str, exc.cmd[:3]))} failed ({exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
