"""The review register's Ed25519 key: where it lives, how it is made, signing, checking.

The hash chain alone proves nothing to someone who can write to the database: they can
alter a row and recompute every hash after it.  So every entry (and every checkpoint of
the chain head) is signed with a private key that lives outside the database (a 0600
file or an environment variable, referenced like a device password), and auditors check
the signatures with the public half, which they keep themselves.

The key reference (setting ``VIDAUDIT_REGISTER_KEY``): ``file:PATH`` or a plain path (a
PKCS#8 PEM file that only the service account can read), or ``${ENV}`` (an environment
variable holding that PEM).  Empty means ``<data_dir>/register-key.pem``.
``vidaudit register keygen`` writes the pair.

Signatures are the ``cryptography`` package's Ed25519 (RFC 8032): deterministic, 64
bytes, and the public key is 32 bytes an auditor can compare by its fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vidaudit.private_files import readable_by_others, write_new_private
from vidaudit.settings import Settings

log = logging.getLogger(__name__)

_ENV_REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")
#: what an entry's signature covers, besides its chain hash (a signature made for one
#: purpose cannot be passed off as another: the checkpoint lines have their own prefix)
ENTRY_CONTEXT = b"vidaudit register entry v1\n"


class KeyProblem(Exception):
    """The configured key cannot be used (shown to the operator as is)."""


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the sha256 of the raw public key: a fingerprint an
    auditor can read out on the telephone, stored beside every signature."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    key_id: str
    #: where the key came from (a path or ``${ENV}``), for messages; never the key
    source: str

    @classmethod
    def of(cls, private: Ed25519PrivateKey, source: str) -> Signer:
        return cls(private, key_id(private.public_key()), source)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")

    def sign_entry(self, chain_hash: str) -> str:
        return self.sign(ENTRY_CONTEXT + chain_hash.encode("ascii"))

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


class PublicKeys:
    """The public keys an auditor trusts, by key id (several after a key change)."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {key_id(k): k for k in keys}

    def __bool__(self) -> bool:
        return bool(self._keys)

    @property
    def ids(self) -> list[str]:
        return sorted(self._keys)

    def check(self, key: str | None, signature: str | None, message: bytes) -> str | None:
        """None if ``signature`` by key ``key`` is valid for ``message``, else why not:
        ``"unsigned"``, ``"unknown_key"`` (not among these keys) or ``"bad_signature"``."""
        if not signature or not key:
            return "unsigned"
        public = self._keys.get(key)
        if public is None:
            return "unknown_key"
        try:
            public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return "bad_signature"
        return None

    def check_entry(self, key: str | None, signature: str | None, chain_hash: str) -> str | None:
        return self.check(key, signature, ENTRY_CONTEXT + chain_hash.encode("ascii"))


def key_reference(settings: Settings) -> str:
    return settings.register_key or str(settings.data_dir / "register-key.pem")


def _reference_path(reference: str) -> Path | None:
    if _ENV_REFERENCE.match(reference):
        return None
    return Path(reference.removeprefix("file:"))


def _load_private(pem: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyProblem(f"register key {source} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"register key {source} is not an Ed25519 key")
    return key


def load_signer(settings: Settings, environ: Mapping[str, str] | None = None) -> Signer | None:
    """The register's signer, or None when no key exists where the settings point.

    A key that exists but cannot be used (readable by others, not Ed25519, an unset
    environment variable named explicitly) is a ``KeyProblem``: refusing is better than
    signing with a key anyone on the machine may have copied.
    """
    env = os.environ if environ is None else environ
    reference = key_reference(settings)
    match = _ENV_REFERENCE.match(reference)
    if match:
        value = env.get(match.group("name"))
        if not value:
            raise KeyProblem(f"register key {reference}: environment variable is not set")
        return Signer.of(_load_private(value.encode(), reference), reference)
    path = _reference_path(reference)
    assert path is not None
    if not path.exists():
        return None
    if readable_by_others(path):
        raise KeyProblem(
            f"register key {path} can be read by other users (mode "
            f"{path.stat().st_mode & 0o777:o}): run chmod 600 {path}"
        )
    return Signer.of(_load_private(path.read_bytes(), str(path)), str(path))


class SignerSource:
    """The settings' signer, read again when the key file changes (so a key created
    while the web server runs signs from the next append on).  A key that cannot be used
    is logged and nothing is signed: ``register verify`` then names those entries."""

    def __init__(self, settings: Settings | None, environ: Mapping[str, str] | None = None):
        self._settings = settings
        self._environ = environ
        self._lock = threading.Lock()
        self._stamp: object = object()
        self._signer: Signer | None = None

    @classmethod
    def fixed(cls, signer: Signer | None) -> SignerSource:
        source = cls(None)
        source._signer = signer
        return source

    def _file_stamp(self) -> object:
        assert self._settings is not None
        path = _reference_path(key_reference(self._settings))
        if path is None:
            return "env"
        try:
            stat = path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_mode)

    def get(self) -> Signer | None:
        if self._settings is None:
            return self._signer
        with self._lock:
            stamp = self._file_stamp()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._signer = load_signer(self._settings, self._environ)
                except KeyProblem as exc:
                    log.error("review register entries are not signed: %s", exc)
                    self._signer = None
            return self._signer


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's public key file (PEM), or a private key file (its public half)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"cannot read public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        return _load_private(data, str(path)).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class NewKey:
    private_path: Path
    public_path: Path
    key_id: str


def generate_key(private_path: Path) -> NewKey:
    """Write a new key pair: the private key 0600 (never over an existing file) and its
    public half beside it as ``<name>.pub`` for the auditors."""
    if private_path.exists():
        raise KeyProblem(f"{private_path} exists already; a register key is never overwritten")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new_private(private_path, pem)
    public_path = private_path.with_name(private_path.name + ".pub")
    public_path.write_bytes(public_pem(private.public_key()))
    return NewKey(private_path, public_path, key_id(private.public_key()))


def key_path_for_keygen(settings: Settings) -> Path:
    """Where ``keygen`` writes by default: the configured file (an ``${ENV}`` reference
    has no file to write: give --out and put the PEM into that variable yourself)."""
    reference = key_reference(settings)
    path = _reference_path(reference)
    if path is None:
        raise KeyProblem(
            f"VIDAUDIT_REGISTER_KEY is {reference}: give --out FILE, then put that file's "
            "content into the variable"
        )
    return path
