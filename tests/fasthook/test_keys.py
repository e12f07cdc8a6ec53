"""`admin.key` and `secret.key` are born 0600: no moment exists where another user can read them,
whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from fasthook import files
from fasthook.files import local_secret, write_private


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the worst case: files created 0666 unless asked otherwise
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def modes_at_write(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The file's mode at the moment each secret byte is written to it."""
    seen: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(files.os, "write", spying_write)
    return seen


def test_a_new_secret_file_is_0600_from_its_creation(tmp_path, open_umask, modes_at_write):
    path = tmp_path / "secret.key"
    value = local_secret(path, lambda: "k" * 44)
    assert value == "k" * 44 and path.read_text() == value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert modes_at_write and set(modes_at_write) == {0o600}
    assert local_secret(path, lambda: "other") == value  # kept across restarts


def test_replacing_a_key_file_never_exposes_it(tmp_path, open_umask, modes_at_write):
    path = tmp_path / "admin.key"
    path.write_text("old")
    path.chmod(0o644)  # as an older version left it
    write_private(path, "fhp_new")
    assert path.read_text() == "fhp_new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(modes_at_write) == {0o600}
    assert [p.name for p in tmp_path.iterdir()] == ["admin.key"]  # no temporary left behind
