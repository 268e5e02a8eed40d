"""The per-user secret and the MACs that prove a record was written by ralph.

The secret is 32 random bytes in `$XDG_CONFIG_HOME/ralph/secret.key` (else
`~/.config/ralph/secret.key`), created 0600 on first use, outside every workspace. The
sandbox hides it (`hidden_paths()`), so a command the agent runs can neither read it nor
compute a MAC: an approval or run record it writes, edits or copies in from elsewhere
fails `verify` and is ignored. Each use names its purpose, so a MAC made for one kind of
record never checks out as another.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ralph.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

SECRET_NAME = "secret.key"
_KEYS: dict[str, bytes] = {}


def user_dir() -> Path:
    """ralph's per-user folder: trust records and the secret (never inside a workspace)."""
    return Path(_user_dir())


def _user_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "ralph")


def secret_path() -> Path:
    return Path(_secret_file())


def _secret_file() -> str:
    return os.path.join(_user_dir(), SECRET_NAME)


def hidden_paths() -> tuple[Path, ...]:
    """What a sandboxed command must not be able to read at all (the per-user secret)."""
    return (secret_path(),)


def mac(purpose: str, data: bytes) -> str:
    """HMAC-SHA256 (hex) of `data` for `purpose`, keyed with the per-user secret."""
    return signer(purpose)(data)


def verify(purpose: str, data: bytes, tag: object) -> bool:
    """Whether `tag` is the MAC of `data` for `purpose` (constant-time compare)."""
    ok = isinstance(tag, str) and tag.isascii()  # compare_digest refuses other text
    return ok and hmac.compare_digest(mac(purpose, data), tag)


def signer(purpose: str) -> Callable[[bytes], str]:
    """`mac(purpose, ·)` with the secret read once: for checking many records in a row.

    HMAC (RFC 2104) from two SHA-256 states keyed once, each MAC a copy of them: half
    the time of `hmac.digest` per record, the same MAC."""
    return _hmac_sha256(_key(), purpose.encode() + b"\0")


def _hmac_sha256(key: bytes, prefix: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 with `key` of `prefix + data`, as a function of `data` (hex)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD))
    inner.update(prefix)
    outer = hashlib.sha256(key.translate(_OPAD))

    def sign(data: bytes) -> str:
        h = inner.copy()
        h.update(data)
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()

    return sign


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _key() -> bytes:
    name = _secret_file()
    key = _KEYS.get(name)
    if key is None:
        path = Path(name)
        key = _read_secret(path)
        if key is None:
            _create_secret(path)
            key = _read_secret(path)
        if key is None:
            raise UsageError(f"cannot read ralph's secret {path} after creating it")
        _KEYS[name] = key
    return key


def _read_secret(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"cannot read ralph's secret {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UsageError(f"ralph's secret {path} is not a regular file; remove it")
        text = f.read(200).strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 32:
        raise UsageError(
            f"ralph's secret {path} is damaged; delete it (approvals and run records "
            "signed with it then show as not written by ralph)"
        )
    return key


def _create_secret(path: Path) -> None:
    """Write a new secret atomically (temp file + link): two first uses agree on one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp makes it 0600
            f.write(os.urandom(32).hex().encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
