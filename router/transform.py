"""Transformations: the connection's JavaScript, run in an embedded V8 sandbox.

The code is compiled as a function body taking `addHandler` (as the API checks it), so it gets
no network, filesystem or Node APIs — only JavaScript and `process.env`. Each run has a time
and a memory limit; a run that loops forever is cut off and only its own request fails.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from py_mini_racer import MiniRacer

from router.batching import (
    Key,
    Next,
    Stop,
    after_stop,
    batch_key,
    chunk_bounds,
    results_text,
)
from schemas.transformations import function_source

TIMEOUT_S = 1.0
MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
# The most memory a worker's isolates may hold: their count times their heap limit (16 x 64 MiB).
# It must leave room for more isolates than transformations run at once (router_concurrency),
# so that an idle one can always be evicted.
MEMORY_BUDGET_BYTES = 1024 * 1024 * 1024
# What a request fails with when the code broke the runner it shares its global scope with.
BROKEN_RUNNER = "the transformation's results could not be read back (did it replace built-ins?)"
# Isolates are made one at a time: a router once died in V8's own start-up checks
# ("Check failed: !IsConfigurablePoolInitialized()") with several made at once.
_MAKING = threading.Lock()

# The runner is defined once per isolate, before the tenant's code, holding its own references
# to JSON's functions; a batch call is `__fh.run(<one JSON string>)` and answers one string:
# the count of requests done, then each one's JSON output on a line of its own. A request that
# throws stops the call with V8's own error, as a call per request did, and `__fh.done()` then
# reads what was done before it. The lines of `one` and `register` sit where the scripts of one
# call per request had them, so the errors they raise read as they always did (line numbers).
RUNNER = """
var __fh = (function (parse, stringify, handlers) { function one(item) {
    var handler = handlers['transform'];
    if (!handler) { throw new Error("no handler: call addHandler('transform', fn)"); }
    var result = handler(item[0], item[1]);
    if (result === undefined || result === null || typeof result !== 'object') {
      throw new TypeError('the transform handler must return the request object');
    }
    return stringify(result);
  }
  var out = [];
  function done() { return out.length + '\\n' + out.join('\\n'); }
  return {
    handlers: handlers,
    run: function (itemsJson) {
      out = [];
      var items = parse(itemsJson);
      for (var i = 0; i < items.length; i++) {
        var text = one(items[i]);
        out[i] = typeof text === 'string' ? text : '';
      }
      return done();
    },
    done: done
  };
})(JSON.parse, JSON.stringify, {});
"""
REGISTER = """
__fh.register = (function (handlers) {
  return function (name, fn) {
    if (typeof fn !== 'function') { throw new TypeError('addHandler needs a function'); }
    handlers[name] = fn;
  };
})(__fh.handlers);
"""


class TransformationFailed(Exception):
    """The code threw, timed out, ran out of memory, or returned something unusable."""


# What one request's run answers: its output, or why it failed.
Outcome = dict[str, Any] | TransformationFailed


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
        self._cache: OrderedDict[Key, _Sandbox] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Close every isolate, each once nothing runs in it; no new one is made after. An
        isolate left to the garbage collector at interpreter exit may hang the process in
        V8's teardown (seen with mini-racer 0.14 about every other exit)."""
        with self._lock:
            self._closed = True
            sandboxes = list(self._cache.values())
            self._cache.clear()
        for sandbox in sandboxes:
            with sandbox.lock:
                sandbox.close()

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
            racer.eval(RUNNER)
            racer.eval(REGISTER + f"var process = {{env: {json.dumps(env)}}};")
            racer.eval(f"({function_source(code)})(__fh.register);", timeout_sec=self.timeout_s)
        except Exception as exc:
            racer.close()
            raise TransformationFailed(_message(exc)) from None
        return _Sandbox(racer, threading.Lock())

    def _sandbox(self, team_id: str, code: str, env: dict[str, str]) -> _Sandbox:
        key = batch_key(team_id, code, env)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        # Created outside the cache's lock: the code's top level runs (up to the time limit).
        created = self._create(code, env)
        with self._lock:
            found = self._cache.get(key)
            if self._closed:
                found = None
            elif found is None:
                self._cache[key] = created
                self._evict_idle()
        if found is not None or self._closed:  # another made it first, or we are stopping
            with created.lock:
                created.close()
            if found is None:
                # Not the code's failure, so never recorded as one: its request is not finished.
                raise RuntimeError("the sandboxes are closed: the worker is stopping")
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
        """One request's transformation: its output, or TransformationFailed."""
        (outcome,) = self.run_batch(team_id, code, env, [(request, context)])
        if isinstance(outcome, TransformationFailed):
            raise outcome
        return outcome

    def run_batch(
        self,
        team_id: str,
        code: str,
        env: dict[str, str],
        items: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    ) -> list[Outcome]:
        """Each (request, context)'s outcome, in order, run in as few calls into the isolate as
        the failures allow (router.batching): a request that throws, loops or runs out of
        memory fails alone, with the error it would have had alone."""
        encoded = [json.dumps(item) for item in items]
        outcomes: list[Outcome] = []
        for start, stop in chunk_bounds([len(text) for text in encoded]):
            outcomes += self._run_chunk(team_id, code, env, encoded[start:stop])
        return outcomes

    def _run_chunk(
        self, team_id: str, code: str, env: dict[str, str], encoded: list[str]
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        one_by_one = False
        while len(outcomes) < len(encoded):
            start = len(outcomes)
            stop = start + 1 if one_by_one else len(encoded)
            try:
                done, stopped = self._attempt(team_id, code, env, encoded[start:stop])
            except TransformationFailed as unmade:  # the code's top level failed: no isolate
                return outcomes + [unmade] * (len(encoded) - start)
            outcomes += done
            if stopped is None:
                continue
            why, error = stopped
            verdict = after_stop(len(done), stop - start, why)
            if verdict is Next.FAIL:
                outcomes.append(error)
            elif verdict is Next.ONE_BY_ONE:
                one_by_one = True
        return outcomes

    def _attempt(
        self, team_id: str, code: str, env: dict[str, str], encoded: list[str]
    ) -> tuple[list[Outcome], tuple[Stop, TransformationFailed] | None]:
        """One call into the isolate for `encoded` requests: the outcomes of those done, and
        why it stopped before the rest (None: it did not)."""
        script = f"__fh.run({json.dumps('[' + ','.join(encoded) + ']')})"
        while True:
            sandbox = self._sandbox(team_id, code, env)
            with sandbox.lock:
                if sandbox.closed:
                    continue  # evicted between lookup and lock: take a fresh one
                try:
                    answer = sandbox.racer.eval(script, timeout_sec=self.timeout_s)
                except Exception as exc:
                    return self._stopped(sandbox, exc, len(encoded))
                break
        lines = results_text(answer)
        if lines is None or len(lines) != len(encoded):
            return [TransformationFailed(BROKEN_RUNNER)] * len(encoded), None
        return [_output(line) for line in lines], None

    def _stopped(
        self, sandbox: _Sandbox, exc: Exception, attempted: int
    ) -> tuple[list[Outcome], tuple[Stop, TransformationFailed] | None]:
        """After a call into `sandbox` raised `exc` (the caller holds its lock): what was done
        before it stopped, read back from the isolate, and why it stopped."""
        if sandbox.racer.was_hard_memory_limit_reached():
            self._forget(sandbox)
            return [], (Stop.LOST, TransformationFailed("the transformation ran out of memory"))
        failed = TransformationFailed(_message(exc))
        try:
            lines = results_text(sandbox.racer.eval("__fh.done()", timeout_sec=self.timeout_s))
        except Exception:
            lines = None
        if lines is None or len(lines) > attempted:
            self._forget(sandbox)  # an isolate we cannot read back from is not reused
            return [], (Stop.LOST, failed)
        done = [_output(line) for line in lines]
        if len(done) == attempted:  # the last one finished as the time limit struck
            return done, None
        return done, (Stop.TIMEOUT if _timed_out(exc) else Stop.ERROR, failed)

    def _forget(self, sandbox: _Sandbox) -> None:
        """Drop an isolate that hit its memory limit (the caller holds its lock)."""
        with self._lock:
            for key, held in list(self._cache.items()):
                if held is sandbox:
                    del self._cache[key]
        sandbox.close()


def _output(line: str) -> Outcome:
    """One request's output from its line of a batch's answer."""
    try:
        output: dict[str, Any] = json.loads(line)
    except RecursionError:
        return TransformationFailed("the transformation returned an object nested too deeply")
    except ValueError:
        return TransformationFailed("the transformation returned no JSON object")
    return output


def _timed_out(exc: Exception) -> bool:
    return "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower()


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    if _timed_out(exc):
        return f"the transformation ran longer than {TIMEOUT_S:g}s and was stopped"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
