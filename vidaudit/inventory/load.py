"""Load cameras.yaml into an ``Inventory``, with errors a security administrator can act on.

Every problem is reported as ``FILE: key.path[2].name: what was expected``; the loader
collects all problems of a file instead of stopping at the first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from vidaudit.errors import ConfigError
from vidaudit.inventory import yaml_events
from vidaudit.inventory.schema import (
    ENV_REFERENCE,
    Credentials,
    Device,
    Gb28181Platform,
    Inventory,
)

#: Inventories are small; a multi-megabyte file is a mistake (or an attack on the parser).
MAX_INVENTORY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InventoryError(Exception):
    """A cameras.yaml that cannot be used; ``str()`` names the file and every problem."""

    def __init__(self, file: Path | str, problems: Sequence[Problem]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        lines = [f"{self.file}: {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


def format_loc(loc: Sequence[int | str]) -> str:
    """``('branches', 2, 'devices', 0, 'role')`` -> ``branches[2].devices[0].role``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_PATTERN_HINTS = {
    "^[0-9]{20}$": 'a 20-digit GB/T 28181 ID, in quotes (e.g. "34020000001110000001")',
    "^[0-9]{10}$": 'the 10-digit GB/T 28181 domain, in quotes (e.g. "3402000000")',
}


def _friendly(error: Mapping[str, object]) -> str:
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the example cameras.yaml)"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    got = error.get("input")
    if kind == "string_pattern_mismatch":
        context = error.get("ctx")
        pattern = context.get("pattern") if isinstance(context, Mapping) else None
        hint = _PATTERN_HINTS.get(str(pattern))
        if hint is not None:
            return f"expected {hint} (got {got!r})"
    if kind == "string_type" and isinstance(got, int):
        # YAML reads an unquoted 20-digit GB/T 28181 ID as a number
        return f"expected text: put {got} in quotes so YAML does not read it as a number"
    if kind in {"enum", "literal_error"} or "pattern" in kind:
        return f"{message} (got {got!r})"
    return message


def _clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    # pydantic adds validator names (e.g. 'function-after[...]') to union locations.
    return [part for part in loc if not (isinstance(part, str) and "[" in part)]


def _duplicate_ids(data: Mapping[str, object]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, dict[str, str]] = {"branch": {}, "device": {}, "channel": {}}

    def note(kind: str, value: object, where: str) -> None:
        if not isinstance(value, str):
            return
        first = seen[kind].get(value)
        if first is not None:
            problems.append(Problem(where, f"duplicate {kind} id {value!r}, first used at {first}"))
        else:
            seen[kind][value] = where

    branches = data.get("branches")
    if not isinstance(branches, list):
        return problems
    for b, branch in enumerate(branches):
        if not isinstance(branch, dict):
            continue
        note("branch", branch.get("id"), f"branches[{b}].id")
        devices = branch.get("devices")
        for d, device in enumerate(devices if isinstance(devices, list) else []):
            if not isinstance(device, dict):
                continue
            note("device", device.get("id"), f"branches[{b}].devices[{d}].id")
            channels = device.get("channels")
            for c, channel in enumerate(channels if isinstance(channels, list) else []):
                if isinstance(channel, dict):
                    note(
                        "channel",
                        channel.get("id"),
                        f"branches[{b}].devices[{d}].channels[{c}].id",
                    )
    return problems


#: PyYAML's safe loader on libyaml where the wheel has it: a county's inventory of
#: thousands of channels parses ~4x faster; same data and error marks as the pure one.
_BASE_LOADER = yaml_events.BASE_LOADER


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, first_line: int, second_line: int) -> None:
        super().__init__(f"key {key!r} on line {second_line} repeats line {first_line}")
        self.key, self.first_line, self.second_line = key, first_line, second_line


class _StrictLoader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """The safe loader, refusing a key given twice in one mapping: YAML says keys are
    unique, PyYAML lets the last one win silently (``retention_days: 30`` then ``: 1``
    loaded 1).  Only the constructor is Python; parsing stays in libyaml."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[object, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first != key_node.start_mark.line + 1:
                raise DuplicateKey(key, first, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


_SAFE_LOADER = _StrictLoader

#: ``scheme://user:secret@host``: a password written into a URL
_URL_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*@")


def _credentials_in_urls(data: object, path: list[int | str]) -> list[Problem]:
    """Every string that is a URL with a user (and maybe a password) in it, by key path:
    passwords go in ``password``/``password_file``, never a URL (it would be stored in
    the database and shown wherever the URL is).  The value itself is never repeated."""
    if isinstance(data, str):
        if _URL_CREDENTIALS.match(data.strip()):
            return [
                Problem(
                    format_loc(path),
                    "credentials inside a URL are refused: give the user name in 'username' "
                    "and the password as a ${ENV} reference or password_file",
                )
            ]
        return []
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _credentials_in_urls(v, [*path, str(k)])]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _credentials_in_urls(v, [*path, i])]
    return []


def read_yaml(text: str) -> Any:
    """The document's data: built from the parser's events as they come (a provincial
    inventory never exists twice, once as nodes and once as data; see yaml_events), and
    by the strict classic loader whenever the document needs it (merge keys, tags, any
    error, so every error reads as it always did)."""
    try:
        return yaml_events.load(text)
    except yaml_events.Unsupported:
        return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 -- a safe loader


def parse_inventory(text: str, file: Path | str = "<inventory>") -> Inventory:
    """Validate inventory text; raise ``InventoryError`` naming every problem."""
    try:
        data = read_yaml(text)
    except DuplicateKey as exc:
        duplicate = Problem(
            f"line {exc.second_line}",
            f"key {exc.key!r} is given twice in one mapping (lines {exc.first_line} and "
            f"{exc.second_line}); YAML keeps only one of them",
        )
        raise InventoryError(file, [duplicate]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(file, [Problem(where, f"not valid YAML: {problem}")]) from None
    except (ValueError, TypeError, AttributeError):
        # PyYAML's constructors fail this way on a value its explicit tag cannot hold
        # (``!!timestamp tomorrow`` raises AttributeError), without a position.
        problem = Problem("", "not valid YAML: a value does not fit its explicit tag (!!...)")
        raise InventoryError(file, [problem]) from None
    if not isinstance(data, dict):
        raise InventoryError(file, [Problem("", "expected a mapping with 'branches' at the top")])
    problems: list[Problem] = _credentials_in_urls(data, [])
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = format_loc(_clean_loc(error["loc"]))
            problems.append(Problem(loc, _friendly(error)))
        inventory = None
    problems.extend(_duplicate_ids(data))
    if problems or inventory is None:
        raise InventoryError(file, problems)
    return inventory


def load_inventory(path: Path | str) -> Inventory:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_INVENTORY_BYTES:
            raise InventoryError(
                file, [Problem("", f"file is {size} bytes; at most {MAX_INVENTORY_BYTES}")]
            )
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(file, [Problem("", "file not found")]) from None
    except UnicodeDecodeError:
        raise InventoryError(file, [Problem("", "not UTF-8 text")]) from None
    except OSError as exc:
        raise InventoryError(file, [Problem("", f"cannot read: {exc.strerror}")]) from None
    return parse_inventory(text, file)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; ``#`` comments and blank lines ignored; quotes stripped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


class SecretResolver:
    """Resolves device password references against the environment and the env file."""

    def __init__(
        self,
        inventory: Inventory,
        inventory_path: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._base = Path(inventory_path).parent if inventory_path else Path.cwd()
        self._file_values: dict[str, str] = {}
        self._env_file: Path | None = None
        if inventory.env_file:
            self._env_file = (self._base / inventory.env_file).resolve()
            if self._env_file.is_file():
                self._file_values = read_env_file(self._env_file)

    def _lookup(self, name: str) -> str | None:
        return self._environ.get(name, self._file_values.get(name))

    def _problem(self, password: str | None, password_file: str | None) -> str | None:
        if password is not None:
            match = ENV_REFERENCE.match(password)
            name = match.group("name") if match else password
            if self._lookup(name) is None:
                where = f" or {self._env_file}" if self._env_file else ""
                return f"environment variable {name} is not set (not in the environment{where})"
            return None
        if password_file is None:
            return None
        file = self._base / password_file
        if not file.is_file():
            return f"password_file {file} does not exist"
        return None

    def _secret(self, owner: str, password: str | None, password_file: str | None) -> SecretStr:
        problem = self._problem(password, password_file)
        if problem is not None:
            raise ConfigError(f"{owner}: {problem}")
        if password is not None:
            match = ENV_REFERENCE.match(password)
            assert match is not None
            secret = self._lookup(match.group("name"))
            assert secret is not None
            return SecretStr(secret)
        assert password_file is not None
        lines = (self._base / password_file).read_text(encoding="utf-8").splitlines()
        return SecretStr(lines[0] if lines else "")

    def problem(self, device: Device) -> str | None:
        """Why this device's password cannot be resolved, or None when it can (a
        GB/T 28181 device has none of its own: it uses the platform's)."""
        return self._problem(device.password, device.password_file)

    def check(self, device: Device) -> None:
        """``ConfigError`` when what reading this device needs from this machine does not
        resolve (a GB/T 28181 device needs nothing: the service holds the platform's
        password)."""
        problem = self.problem(device)
        if problem is not None:
            raise ConfigError(f"{device.id}: {problem}")

    def credentials(self, device: Device) -> Credentials:
        """The device's username and password; ``ConfigError`` when the reference does not
        resolve on this machine, or the device (a GB/T 28181 one) has none of its own."""
        if device.username is None:
            raise ConfigError(f"{device.id} has no user name (api {device.api.value})")
        return Credentials(
            username=device.username,
            password=self._secret(device.id, device.password, device.password_file),
        )

    def platform_problem(self, platform: Gb28181Platform) -> str | None:
        """Why the GB/T 28181 platform password cannot be resolved, or None."""
        return self._problem(platform.password, platform.password_file)

    def platform_password(self, platform: Gb28181Platform) -> SecretStr:
        return self._secret("gb28181", platform.password, platform.password_file)


def check_secrets(
    inventory: Inventory, path: Path | str, environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """Problems resolving passwords, each with its key path (the secret is never shown)."""
    resolver = SecretResolver(inventory, path, environ)
    problems: list[Problem] = []
    for b, branch in enumerate(inventory.branches):
        for d, device in enumerate(branch.devices):
            problem = resolver.problem(device)
            if problem is not None:
                key = "password" if device.password is not None else "password_file"
                problems.append(Problem(f"branches[{b}].devices[{d}].{key}", problem))
    if inventory.gb28181 is not None:
        problem = resolver.platform_problem(inventory.gb28181)
        if problem is not None:
            key = "password" if inventory.gb28181.password is not None else "password_file"
            problems.append(Problem(f"gb28181.{key}", problem))
    return problems
