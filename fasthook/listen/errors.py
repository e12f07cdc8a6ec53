"""What ends `fasthook listen`, each with its exit code (API.md: 1 API or server error, 2 usage,
4 not found)."""

from __future__ import annotations

from fasthook.errors import FastHookCliError


class ListenError(FastHookCliError):
    exit_code = 1


class UsageError(ListenError):
    exit_code = 2


class NotFoundError(ListenError):
    exit_code = 4
