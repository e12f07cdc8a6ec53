"""Files the launcher and the CLI keep for their user: secrets and config, owner-only."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_private(path: Path, value: str) -> None:
    """Write `value` to `path` readable by its owner only, from the first byte on.

    The file is created 0600 (O_EXCL: never an existing file or a planted link), fchmod-ed in
    case the umask took bits away, filled, then renamed over `path`: no moment exists where
    another user could open it, and a crash leaves the old value whole.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = value.encode()
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)


def local_secret(path: Path, make: Callable[[], str]) -> str:
    """A value kept in the data dir (mode 600) so it survives restarts."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    write_private(path, value)
    return value
