"""Load cameras.yaml into an ``Inventory``, with errors a security administrator can act on.

Every problem is reported as ``FILE: key.path[2].name: what was expected``; the loader
collects all problems of a file instead of stopping at the first.
"""

from __future__ import annotations

import bisect
import glob
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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

#: One file of an inventory: a multi-megabyte file is a mistake (or an attack on the
#: parser).  50,000 channels written as ``vidaudit sim`` writes them take 7.7 MB, so a
#: provincial bank splits its inventory with ``include:`` (a file per region or branch).
MAX_INVENTORY_BYTES = 8 * 1024 * 1024
#: ``include:``: files and bytes in all (500,000 channels take ~72 MiB).
MAX_INCLUDED_FILES = 10_000
MAX_INVENTORY_TOTAL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    #: The included file the problem is in (as ``include:`` found it); None: the file
    #: the ``InventoryError`` names.
    file: str | None = None

    def __str__(self) -> str:
        said = f"{self.path}: {self.message}" if self.path else self.message
        return f"{self.file}: {said}" if self.file else said


class InventoryError(Exception):
    """A cameras.yaml that cannot be used; ``str()`` names the file and every problem."""

    def __init__(self, file: Path | str, problems: Sequence[Problem]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        #: The ``include:`` patterns the load globbed before it failed (``Origins.patterns``;
        #: None: it failed before them): a long-running command watching the files
        #: (watch.py) must notice the fix of a file only they match.
        self.patterns: tuple[str, ...] | None = None
        lines = [str(p) if p.file else f"{self.file}: {p}" for p in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class IncludedFile:
    """One file named by ``include:`` and its share of the merged ``branches``."""

    name: str  # as problems show it: relative to the main file's folder when inside it
    path: Path
    start: int  # index of its first branch in the merged list
    count: int


class Origins:
    """Where each branch of a merged inventory was written, so a problem names the file
    and the branch's place in it, not its place in the merged list."""

    def __init__(
        self,
        included: Sequence[IncludedFile] = (),
        digest: str | None = None,
        patterns: Sequence[str] = (),
    ) -> None:
        self.included = tuple(included)
        self._starts = [f.start for f in self.included]
        #: sha256 of the text as it was read (``inventory_digest``)
        self.digest = digest
        #: each ``include:`` pattern as it was globbed (absolute, the folder escaped): what
        #: a new region file must match to be read (watch.py globs them again)
        self.patterns = tuple(patterns)

    def __eq__(self, other: object) -> bool:
        # pydantic compares private attributes too: two loads of the same files are equal
        return isinstance(other, Origins) and other.included == self.included

    def __hash__(self) -> int:
        return hash(self.included)

    def locate(self, loc: Sequence[int | str]) -> tuple[str | None, list[int | str]]:
        """The file (None: the main one) and the key path inside it."""
        if len(loc) >= 2 and loc[0] == "branches" and isinstance(loc[1], int):
            i = bisect.bisect_right(self._starts, loc[1]) - 1
            if i >= 0 and loc[1] < self.included[i].start + self.included[i].count:
                part = self.included[i]
                return part.name, ["branches", loc[1] - part.start, *loc[2:]]
        return None, list(loc)

    def problem(self, loc: Sequence[int | str], message: str) -> Problem:
        file, inside = self.locate(loc)
        return Problem(format_loc(inside), message, file)

    def where(self, loc: Sequence[int | str]) -> str:
        file, inside = self.locate(loc)
        return f"{file}: {format_loc(inside)}" if file else format_loc(inside)


def origins_of(inventory: Inventory) -> Origins:
    """Where ``inventory``'s branches were written (one file when not loaded here)."""
    origins = inventory._origins
    return origins if isinstance(origins, Origins) else Origins()


def inventory_digest(inventory: Inventory) -> str:
    """What an inventory sync records: the sha256 of the text the inventory was read
    from, each included file appended in order under a line naming it, so a change to a
    region's file is a change of the inventory.  Taken while the files were read: a
    long-running ``schedule --every`` or ``collect --every`` records the digest of what
    it applies, which is the edited file's only once the edit has been read (they read
    the files again when they change, before a round; watch.py).  An inventory not read
    from text (built in code): the digest of its JSON form."""
    digest = origins_of(inventory).digest
    if digest is not None:
        return digest
    return hashlib.sha256(inventory.model_dump_json().encode("utf-8")).hexdigest()


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


def _duplicate_ids(data: Mapping[str, object], origins: Origins) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, dict[str, list[int | str]]] = {"branch": {}, "device": {}, "channel": {}}

    def note(kind: str, value: object, loc: list[int | str]) -> None:
        if not isinstance(value, str):
            return
        first = seen[kind].get(value)
        if first is not None:
            message = f"duplicate {kind} id {value!r}, first used at {origins.where(first)}"
            problems.append(origins.problem(loc, message))
        else:
            seen[kind][value] = loc

    branches = data.get("branches")
    if not isinstance(branches, list):
        return problems
    for b, branch in enumerate(branches):
        if not isinstance(branch, dict):
            continue
        note("branch", branch.get("id"), ["branches", b, "id"])
        devices = branch.get("devices")
        for d, device in enumerate(devices if isinstance(devices, list) else []):
            if not isinstance(device, dict):
                continue
            note("device", device.get("id"), ["branches", b, "devices", d, "id"])
            channels = device.get("channels")
            for c, channel in enumerate(channels if isinstance(channels, list) else []):
                if isinstance(channel, dict):
                    loc: list[int | str] = ["branches", b, "devices", d, "channels", c, "id"]
                    note("channel", channel.get("id"), loc)
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


def _credentials_in_urls(data: object, path: list[int | str]) -> list[list[int | str]]:
    """The key path of every string that is a URL with a user (and maybe a password) in
    it: passwords go in ``password``/``password_file``, never a URL (it would be stored in
    the database and shown wherever the URL is).  The value itself is never repeated."""
    if isinstance(data, str):
        return [path] if _URL_CREDENTIALS.match(data.strip()) else []
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


_CREDENTIALS_IN_URL = (
    "credentials inside a URL are refused: give the user name in 'username' "
    "and the password as a ${ENV} reference or password_file"
)


def _data_of(text: str, file: Path | str) -> Any:
    """The YAML document's data; ``InventoryError`` when it is not valid YAML."""
    try:
        return read_yaml(text)
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


def parse_inventory(text: str, file: Path | str = "<inventory>") -> Inventory:
    """Validate inventory text; raise ``InventoryError`` naming every problem.  Files
    named by ``include:`` are found relative to ``file``'s folder."""
    data = _data_of(text, file)
    if not isinstance(data, dict):
        raise InventoryError(file, [Problem("", "expected a mapping with 'branches' at the top")])
    problems: list[Problem] = []
    digest = hashlib.sha256(text.encode("utf-8"))
    origins = Origins()
    if "include" in data:
        origins = _include(data, Path(file).parent, problems, digest)
    problems.extend(
        origins.problem(loc, _CREDENTIALS_IN_URL) for loc in _credentials_in_urls(data, [])
    )
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(origins.problem(_clean_loc(error["loc"]), _friendly(error)))
        inventory = None
    problems.extend(_duplicate_ids(data, origins))
    if problems or inventory is None:
        refused = InventoryError(file, problems)
        refused.patterns = origins.patterns
        raise refused
    inventory._origins = Origins(origins.included, digest.hexdigest(), origins.patterns)
    return inventory


def _read_text(file: Path) -> str:
    """A file's text, at most ``MAX_INVENTORY_BYTES``; ``InventoryError`` naming it
    otherwise."""
    limit = MAX_INVENTORY_BYTES
    try:
        size = file.stat().st_size
        if size > limit:
            raise InventoryError(file, [Problem("", f"file is {size} bytes; at most {limit}")])
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(file, [Problem("", "file not found")]) from None
    except UnicodeDecodeError:
        raise InventoryError(file, [Problem("", "not UTF-8 text")]) from None
    except OSError as exc:
        raise InventoryError(file, [Problem("", f"cannot read: {exc.strerror}")]) from None


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def _include(data: dict[str, Any], base: Path, problems: list[Problem], digest: _Digest) -> Origins:
    """Append the branches of every file ``include:`` names (file names or glob patterns,
    relative to ``base``; each pattern's matches in name order) to ``data['branches']``.
    An included file holds ``branches`` and nothing else: policy, time zone, secrets and
    the GB/T 28181 platform are the main file's, so one file decides them.  Problems in a
    file name that file; nothing is read past the limits."""
    patterns = data.pop("include")
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        problems.append(
            Problem("include", "expected a list of file names or patterns (regions/*.yaml)")
        )
        return Origins()
    # glob.glob, not Path.glob: a pattern may be an absolute path
    wheres = [p if Path(p).is_absolute() else f"{glob.escape(str(base))}/{p}" for p in patterns]
    merged = data.setdefault("branches", [])
    if not isinstance(merged, list):
        return Origins(patterns=wheres)  # validation names the main file's 'branches'
    files: dict[Path, str] = {}
    for i, (pattern, where) in enumerate(zip(patterns, wheres, strict=True)):
        matches = glob.glob(where)  # noqa: PTH207
        found = sorted(Path(p) for p in matches if Path(p).is_file())
        if not found:
            problems.append(Problem(f"include[{i}]", f"{pattern!r} matches no file"))
        for path in found:
            # a file matched by two patterns is read once
            files.setdefault(path.resolve(), _shown(path, base))
    if len(files) > MAX_INCLUDED_FILES:
        problems.append(
            Problem("include", f"names {len(files)} files; at most {MAX_INCLUDED_FILES}")
        )
        return Origins(patterns=wheres)
    included: list[IncludedFile] = []
    budget = MAX_INVENTORY_TOTAL_BYTES
    for path, name in files.items():
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # reading it says why
        if budget < size <= MAX_INVENTORY_BYTES:
            total = f"the included files exceed {MAX_INVENTORY_TOTAL_BYTES} bytes in all"
            problems.append(Problem("include", total))
            break
        try:
            text = _read_text(path)
            part = _data_of(text, name)
        except InventoryError as exc:
            problems.extend(Problem(p.path, p.message, name) for p in exc.problems)
            continue
        digest.update(f"\n# vidaudit include: {name}\n".encode())
        digest.update(text.encode("utf-8"))
        budget -= size
        branches = _included_branches(part, name, problems)
        included.append(IncludedFile(name, path, len(merged), len(branches)))
        merged.extend(branches)
    return Origins(included, patterns=wheres)


def _included_branches(part: object, name: str, problems: list[Problem]) -> list[Any]:
    if not isinstance(part, dict) or not isinstance(part.get("branches"), list):
        problems.append(Problem("", "expected a mapping with a list of 'branches'", name))
        return []
    for key in part:
        if key != "branches":
            why = (
                "an included file cannot include others"
                if key == "include"
                else "only 'branches' may be given in an included file (policy, time zone, "
                "env_file and gb28181 are the main file's)"
            )
            problems.append(Problem(str(key), why, name))
    branches: list[Any] = part["branches"]
    return branches


def _shown(path: Path, base: Path) -> str:
    """An included file as problems name it: relative to the main file's folder."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def load_inventory(path: Path | str) -> Inventory:
    file = Path(path)
    return parse_inventory(_read_text(file), file)


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


def env_file_of(inventory: Inventory, inventory_path: Path | str | None) -> Path | None:
    """Where the inventory's ``env_file`` is (None: it names none): beside the inventory
    file, or in the working folder for an inventory not read from one."""
    if not inventory.env_file:
        return None
    base = Path(inventory_path).parent if inventory_path else Path.cwd()
    return (base / inventory.env_file).resolve()


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
        self._env_file = env_file_of(inventory, inventory_path)
        if self._env_file is not None and self._env_file.is_file():
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
    origins = origins_of(inventory)
    problems: list[Problem] = []
    for b, branch in enumerate(inventory.branches):
        for d, device in enumerate(branch.devices):
            problem = resolver.problem(device)
            if problem is not None:
                key = "password" if device.password is not None else "password_file"
                problems.append(origins.problem(["branches", b, "devices", d, key], problem))
    if inventory.gb28181 is not None:
        problem = resolver.platform_problem(inventory.gb28181)
        if problem is not None:
            key = "password" if inventory.gb28181.password is not None else "password_file"
            problems.append(Problem(f"gb28181.{key}", problem))
    return problems
