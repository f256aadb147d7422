"""Notice an edited cameras.yaml in a command that runs for days, and read it again.

``collect --every``, ``schedule --every`` and ``vidaudit worker`` load the inventory once
at start; a security department that adds a recorder, changes a channel's role or a
password expects the edit to apply at the next round, without restarting them.

Reading the files every round is not an option: a 500,000-channel inventory takes 40 s
of CPU to parse.  So an ``InventoryWatch`` remembers a cheap fingerprint of every file
the inventory was read from -- the main file, the files each ``include:`` pattern matches
(the set of them: a new region file counts), the ``env_file`` -- by ``os.stat`` (time of
last change in ns, size, inode: an editor that writes a new file and renames it over the
old one changes the inode), never by reading or hashing them.  A stat per file per round
costs nothing next to a round.  A file's time of change moves in ticks (a few ms on
Linux, seconds on some file systems): a file changed within ``RACY_S`` of a look may
change again unseen within the same tick, so such a look is not trusted and the next
one reads the files again (as git treats an index entry as racily clean); a reading
that finds the inventory it already has is silent.

An edit that cannot be used -- a YAML or schema error, a ``--branch`` the file no longer
has, a password reference that no longer resolves -- is rejected: the command keeps the
last good inventory and says why once per broken state (the files as they are are what
the next look compares against, and the same problems are not said twice running), and
reads them again once they change.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from vidaudit.inventory.load import (
    InventoryError,
    Problem,
    SecretResolver,
    env_file_of,
    inventory_digest,
    load_inventory,
    origins_of,
)
from vidaudit.inventory.schema import Device, Inventory

logger = logging.getLogger(__name__)

#: What the messages show of a digest: enough to tell two inventories apart in a log.
DIGEST_SHOWN = 12
#: A file changed this close (s) to a look may change again within its time's tick.
RACY_S = 2.0

#: ``(st_mtime_ns, st_size, st_ino)``; None: no such file (or a folder: the loader reads
#: the regular files a pattern matches).
Stamp = tuple[int, int, int] | None


def _stamp(path: Path | str) -> Stamp:
    try:
        found = os.stat(path)  # noqa: PTH116 -- a str from glob as often as a Path
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


@dataclass(frozen=True)
class Sources:
    """The files an inventory was read from, as a watch looks at them again."""

    main: Path
    #: ``include:`` patterns as the loader globbed them (``Origins.patterns``)
    patterns: tuple[str, ...] = ()
    #: the ``env_file`` as ``SecretResolver`` reads it; None: the inventory names none
    env_file: Path | None = None

    @classmethod
    def of(cls, path: Path, inventory: Inventory) -> Sources:
        return cls(path, origins_of(inventory).patterns, env_file_of(inventory, path))

    def fingerprint(self) -> Fingerprint:
        """Every file's stamp; each pattern's regular files by name, so a file that
        appears, goes or is renamed is a change as much as an edit is."""
        matched = tuple(
            tuple(
                (name, found)
                for name in sorted(glob.glob(pattern))  # noqa: PTH207 -- as the loader globs
                if (found := _stamp(name)) is not None
            )
            for pattern in self.patterns
        )
        env = _stamp(self.env_file) if self.env_file is not None else None
        return Fingerprint(_stamp(self.main), matched, env)


@dataclass(frozen=True)
class Fingerprint:
    main: Stamp
    matched: tuple[tuple[tuple[str, Stamp], ...], ...]
    env_file: Stamp

    def settled(self, now_ns: int) -> bool:
        """No file changed within ``RACY_S`` of ``now_ns`` (see the module's doc)."""
        stamps = [self.main, self.env_file, *(s for each in self.matched for _n, s in each)]
        racy = int(RACY_S * 1e9)
        return not any(s is not None and abs(now_ns - s[0]) < racy for s in stamps)


@dataclass(frozen=True)
class Reloaded:
    """The files changed and their new inventory is good: use it from now on."""

    inventory: Inventory
    digest: str


@dataclass(frozen=True)
class Rejected:
    """The files changed and cannot be used; ``kept`` is the digest still in use."""

    error: InventoryError
    kept: str


def shown(digest: str) -> str:
    return digest[:DIGEST_SHOWN]


class InventoryWatch:
    """The last good inventory of ``path`` and a fingerprint of the files it came from.

    ``branches``: the branches the command was asked for (``--branch``), which a new
    inventory must still have.  ``secrets``: a device's password reference (in the
    branches asked for) that resolved must still resolve; one that did not resolve when
    the command started may stay so (its device reports ``config``, as it did)."""

    def __init__(
        self,
        path: Path,
        inventory: Inventory,
        *,
        branches: Collection[str] | None = None,
        secrets: bool = False,
    ) -> None:
        self.path = path
        self.inventory = inventory
        self._branches = frozenset(branches) if branches else None
        #: why the last look rejected the files (None: it did not): the same problems
        #: are not said again, and the next good inventory is said even if it is the
        #: one in use (the edit was undone)
        self._rejection: str | None = None
        self._secrets = secrets
        self._sources = Sources.of(path, inventory)
        first = self._sources.fingerprint()
        self._stamp: Fingerprint | None = self._trusted(first)
        #: the passwords file as the inventory in use was loaded with it
        self._env_in_use = first.env_file
        #: devices (in scope) whose password reference did not resolve in the inventory
        #: in use: they may stay so
        self._unresolved: frozenset[str] = frozenset()
        self._unresolved, _problems = self._passwords(inventory)

    @staticmethod
    def _trusted(fingerprint: Fingerprint) -> Fingerprint | None:
        # None: the next look reads the files again (``changed`` says so)
        return fingerprint if fingerprint.settled(time.time_ns()) else None

    def changed(self) -> bool:
        """Whether any file differs from when it was last looked at (a stat per file)."""
        return self._stamp is None or self._sources.fingerprint() != self._stamp

    def reload(self) -> Inventory | InventoryError:
        """Read the files again: the new inventory, kept as the last good one, or why it
        cannot be used (``InventoryError``, with the loader's own message).  Either way
        the files as they are now are what ``changed`` compares against next."""
        before = self._sources
        stamp = before.fingerprint()
        try:
            loaded = load_inventory(self.path)
        except InventoryError as exc:
            # watch what the failed load globbed: the fix may be in a region file only
            # its (new) patterns match
            patterns = exc.patterns if exc.patterns is not None else before.patterns
            self._look_from(before, stamp, replace(before, patterns=patterns))
            return exc
        looked = self._look_from(before, stamp, Sources.of(self.path, loaded))
        missing = self._missing_branches(loaded)
        if missing:
            return InventoryError(self.path, missing)
        unresolved, problems = self._passwords(loaded)
        if problems:
            return InventoryError(self.path, problems)
        same_text = inventory_digest(loaded) == inventory_digest(self.inventory)
        # The passwords file is not part of the digest, but what reads a device (a
        # worker's resolver) must be built again when it changed.
        if not same_text or looked.env_file != self._env_in_use:
            self.inventory = loaded
            self._env_in_use = looked.env_file
            self._unresolved = unresolved
        # else: the same files, read again (touched, saved as they were, or looked at too
        # soon after a change): the inventory in use stays, and all built from it
        return self.inventory

    def _look_from(self, before: Sources, stamp: Fingerprint, after: Sources) -> Fingerprint:
        """Compare against ``after``'s files from now on, unless one of ``before``'s
        changed while they were read (it may have been read half old, half new): then
        the next look reads them again.  ``after``'s fingerprint now."""
        now = after.fingerprint()
        self._stamp = None if before.fingerprint() != stamp else self._trusted(now)
        self._sources = after
        return now

    def refresh(self) -> Reloaded | Rejected | None:
        """``reload`` if the files changed, said in a log line: action
        ``inventory_reloaded`` with the new digest, or ``inventory_rejected`` with the
        problems and the digest still in use.  None: nothing new -- the files did not
        change, were read again as they were, or are broken as the last look said."""
        if not self.changed():
            return None
        current = self.inventory
        kept = inventory_digest(current)
        loaded = self.reload()
        if isinstance(loaded, InventoryError):
            if str(loaded) == self._rejection:
                return None  # the same broken state (saved again as it was): said already
            self._rejection = str(loaded)
            logger.warning(
                "%s: edited, not applied (still using the inventory %s): %s",
                self.path,
                shown(kept),
                loaded,
                extra={
                    "action": "inventory_rejected",
                    "inventory": str(self.path),
                    "digest": shown(kept),
                    "problems": [str(p) for p in loaded.problems],
                },
            )
            return Rejected(loaded, kept)
        if loaded is current and self._rejection is None:
            return None  # nothing to say: the same inventory
        self._rejection = None
        digest = inventory_digest(loaded)
        logger.info(
            "%s: edited, reloaded: %d branches, %d devices (inventory %s)",
            self.path,
            len(loaded.branches),
            len(loaded.devices()),
            shown(digest),
            extra={
                "action": "inventory_reloaded",
                "inventory": str(self.path),
                "digest": shown(digest),
                "branches": len(loaded.branches),
                "devices": len(loaded.devices()),
            },
        )
        return Reloaded(loaded, digest)

    def _in_scope(self, inventory: Inventory) -> list[tuple[int, int, Device]]:
        """(branch index, device index, device) of the devices the command reads."""
        return [
            (b, d, device)
            for b, branch in enumerate(inventory.branches)
            if self._branches is None or branch.id in self._branches
            for d, device in enumerate(branch.devices)
        ]

    def _missing_branches(self, inventory: Inventory) -> list[Problem]:
        """A branch asked for with ``--branch`` that a new inventory no longer has."""
        if self._branches is None:
            return []
        missing = self._branches - {b.id for b in inventory.branches}
        if not missing:
            return []
        return [Problem("", f"no branch {', '.join(sorted(missing))} (asked for with --branch)")]

    def _passwords(self, inventory: Inventory) -> tuple[frozenset[str], list[Problem]]:
        """With ``secrets``: the devices (in scope) whose password reference does not
        resolve, and why each of those that were not so in the inventory in use
        (``_unresolved``) cannot be used.  One resolver, one pass over the devices."""
        if not self._secrets:
            return frozenset(), []
        resolver = SecretResolver(inventory, self.path)
        origins = origins_of(inventory)
        unresolved: set[str] = set()
        problems: list[Problem] = []
        for b, d, device in self._in_scope(inventory):
            problem = resolver.problem(device)
            if problem is None:
                continue
            unresolved.add(device.id)
            if device.id not in self._unresolved:
                key = "password" if device.password is not None else "password_file"
                problems.append(origins.problem(["branches", b, "devices", d, key], problem))
        return frozenset(unresolved), problems


async def looks(watch: InventoryWatch, every_s: float) -> AsyncIterator[Reloaded | Rejected | None]:
    """For a service that runs for months (``serve``, ``gb serve``): every ``every_s``,
    what ``watch.refresh`` found.  It runs in a thread, so parsing an edited inventory
    (seconds, for a province's) never holds up the event loop.  An unexpected failure
    of one look is logged and counts as nothing new: the service goes on with the
    inventory it has, and the next look tries again."""
    while True:
        await asyncio.sleep(every_s)
        try:
            outcome = await asyncio.to_thread(watch.refresh)
        except Exception:
            logger.exception(
                "%s: could not look whether it was edited",
                watch.path,
                extra={"action": "inventory_look_failed", "inventory": str(watch.path)},
            )
            outcome = None
        yield outcome
