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

TIMEOUT_S = 1.0
MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
CACHE_SIZE = 256

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


class Sandboxes:
    """One V8 isolate per distinct (code, env), reused across requests, least recently used
    evicted. Calls are synchronous: run them in a worker thread."""

    def __init__(self, timeout_s: float = TIMEOUT_S, memory_bytes: int = MEMORY_LIMIT_BYTES,
                 size: int = CACHE_SIZE) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.size = size
        self._cache: OrderedDict[str, _Sandbox] = OrderedDict()
        self._lock = threading.Lock()

    def _sandbox(self, code: str, env: dict[str, str]) -> _Sandbox:
        key = hashlib.sha256(json.dumps([code, env], sort_keys=True).encode()).hexdigest()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        racer = MiniRacer()
        racer.set_hard_memory_limit(self.memory_bytes)
        try:
            racer.eval(PRELUDE + f"var process = {{env: {json.dumps(env)}}};")
            racer.eval(f"(new Function('addHandler', {json.dumps(code)}))(__register);",
                       timeout_sec=self.timeout_s)
        except Exception as exc:
            racer.close()
            raise TransformationFailed(_message(exc)) from None
        sandbox = _Sandbox(racer, threading.Lock())
        with self._lock:
            self._cache[key] = sandbox
            while len(self._cache) > self.size:
                _, evicted = self._cache.popitem(last=False)
                evicted.racer.close()
        return sandbox

    def run(self, code: str, env: dict[str, str], request: dict[str, Any],
            context: dict[str, Any]) -> dict[str, Any]:
        sandbox = self._sandbox(code, env)
        with sandbox.lock:
            try:
                result = sandbox.racer.eval(
                    f"{RUN}({json.dumps(json.dumps(request))}, {json.dumps(json.dumps(context))})",
                    timeout_sec=self.timeout_s,
                )
            except Exception as exc:
                if sandbox.racer.was_hard_memory_limit_reached():
                    self._forget(sandbox)
                    raise TransformationFailed("the transformation ran out of memory") from None
                raise TransformationFailed(_message(exc)) from None
        try:
            return json.loads(result)
        except (TypeError, ValueError):
            raise TransformationFailed("the transformation returned no JSON object") from None

    def _forget(self, sandbox: _Sandbox) -> None:
        with self._lock:
            for key, held in list(self._cache.items()):
                if held is sandbox:
                    del self._cache[key]
        sandbox.racer.close()


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    if "timeout" in type(exc).__name__.lower() or "timed out" in text.lower():
        return f"the transformation ran longer than {TIMEOUT_S:g}s and was stopped"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
