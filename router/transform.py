"""Transformations: the connection's JavaScript, run in an embedded V8 sandbox.

The code is compiled as a function body taking `addHandler` (as the API checks it), so it gets
no network, filesystem or Node APIs — only JavaScript and `process.env`. Each run has a time
and a memory limit; a run that loops forever is cut off and only its own request fails.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from py_mini_racer import MiniRacer

from schemas.transformations import function_source

TIMEOUT_S = 1.0
MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
# The most memory a worker's isolates may hold: their count times their heap limit (16 x 64 MiB).
# It must leave room for more isolates than transformations run at once (router_concurrency),
# so that an idle one can always be evicted.
MEMORY_BUDGET_BYTES = 1024 * 1024 * 1024
# Isolates are made one at a time: a router once died in V8's own start-up checks
# ("Check failed: !IsConfigurablePoolInitialized()") with several made at once.
_MAKING = threading.Lock()

PRELUDE = """
var __handlers = {};
function __register(name, fn) {
  if (typeof fn !== 'function') { throw new TypeError('addHandler needs a function'); }
  __handlers[name] = fn;
}
"""
RUN = """
(function (requestJson, contextJson) {
  var handler = __handlers['transform'];
  if (!handler) { throw new Error("no handler: call addHandler('transform', fn)"); }
  var result = handler(JSON.parse(requestJson), JSON.parse(contextJson));
  if (result === undefined || result === null || typeof result !== 'object') {
    throw new TypeError('the transform handler must return the request object');
  }
  return JSON.stringify(result);
})
"""


class TransformationFailed(Exception):
    """The code threw, timed out, ran out of memory, or returned something unusable."""


@dataclass
class _Sandbox:
    racer: MiniRacer
    lock: threading.Lock
    closed: bool = False

    def close(self) -> None:
        """Close the isolate; the caller holds `lock`, so nothing runs in it."""
        self.closed = True
        self.racer.close()


class Sandboxes:
    """One V8 isolate per (team, code, env), reused across that team's requests: one tenant's
    code never shares an isolate — nor its global state — with another's. At most
    `memory_budget_bytes // memory_bytes` isolates live at once; the least recently used idle
    one is closed to make room. Calls are synchronous: run them in a worker thread."""

    def __init__(
        self,
        timeout_s: float = TIMEOUT_S,
        memory_bytes: int = MEMORY_LIMIT_BYTES,
        memory_budget_bytes: int = MEMORY_BUDGET_BYTES,
    ) -> None:
        if memory_budget_bytes < memory_bytes:
            raise ValueError("the memory budget must hold at least one isolate")
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.max_isolates = memory_budget_bytes // memory_bytes
        self._cache: OrderedDict[str, _Sandbox] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def live(self) -> int:
        """Isolates open now."""
        with self._lock:
            return len(self._cache)

    def _create(self, code: str, env: dict[str, str]) -> _Sandbox:
        with _MAKING:
            racer = MiniRacer()
        racer.set_hard_memory_limit(self.memory_bytes)
        try:
            racer.eval(PRELUDE + f"var process = {{env: {json.dumps(env)}}};")
            racer.eval(f"({function_source(code)})(__register);", timeout_sec=self.timeout_s)
        except Exception as exc:
            racer.close()
            raise TransformationFailed(_message(exc)) from None
        return _Sandbox(racer, threading.Lock())

    def _sandbox(self, team_id: str, code: str, env: dict[str, str]) -> _Sandbox:
        key = hashlib.sha256(json.dumps([team_id, code, env], sort_keys=True).encode()).hexdigest()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        # Created outside the cache's lock: the code's top level runs (up to the time limit).
        created = self._create(code, env)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                self._cache[key] = created
                self._evict_idle()
        if found is not None:  # another thread created it first: one isolate per key
            with created.lock:
                created.close()
            return found
        return created

    def _evict_idle(self) -> None:
        """Close least recently used isolates that are not running, down to the budget (the
        caller holds the cache's lock). One that runs is never closed under its code."""
        for key in list(self._cache):
            if len(self._cache) <= self.max_isolates:
                return
            sandbox = self._cache[key]
            if sandbox.lock.acquire(blocking=False):
                try:
                    del self._cache[key]
                    sandbox.close()
                finally:
                    sandbox.lock.release()

    def run(
        self,
        team_id: str,
        code: str,
        env: dict[str, str],
        request: dict[str, Any],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        while True:
            sandbox = self._sandbox(team_id, code, env)
            with sandbox.lock:
                if sandbox.closed:
                    continue  # evicted between lookup and lock: take a fresh one
                result = self._eval(sandbox, request, context)
                break
        try:
            output: dict[str, Any] = json.loads(result)
        except RecursionError:
            raise TransformationFailed(
                "the transformation returned an object nested too deeply"
            ) from None
        except (TypeError, ValueError):
            raise TransformationFailed("the transformation returned no JSON object") from None
        return output

    def _eval(self, sandbox: _Sandbox, request: dict[str, Any], context: dict[str, Any]) -> Any:
        try:
            return sandbox.racer.eval(
                f"{RUN}({json.dumps(json.dumps(request))}, {json.dumps(json.dumps(context))})",
                timeout_sec=self.timeout_s,
            )
        except Exception as exc:
            if sandbox.racer.was_hard_memory_limit_reached():
                self._forget(sandbox)
                raise TransformationFailed("the transformation ran out of memory") from None
            raise TransformationFailed(_message(exc)) from None

    def _forget(self, sandbox: _Sandbox) -> None:
        """Drop an isolate that hit its memory limit (the caller holds its lock)."""
        with self._lock:
            for key, held in list(self._cache.items()):
                if held is sandbox:
                    del self._cache[key]
        sandbox.close()


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    if "timeout" in type(exc).__name__.lower() or "timed out" in text.lower():
        return f"the transformation ran longer than {TIMEOUT_S:g}s and was stopped"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
