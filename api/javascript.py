"""Whether a transformation's JavaScript compiles, asked of one V8 isolate per process."""

from __future__ import annotations

import os
import threading
from typing import Any

from schemas.transformations import compile_error, function_source, handler_problem

JS_COMPILE_TIMEOUT_SEC = 2.0

# One V8 isolate per process: creating one costs ~30 ms; V8 is not fork-safe, hence the pid.
_js_lock = threading.Lock()
_js: Any = None
_js_pid = 0


def check_javascript(code: str) -> str | None:
    """Why `code` does not compile as a transformation, or None. Compiles only, never runs.

    `new Function(...)` parses the whole body (nested functions too) without executing it, and
    V8 refuses a body that would escape the function. So top-level statements, even
    `while (true) {}`, never run; the timeout only bounds V8's parser on a pathological input.
    """
    global _js, _js_pid
    from py_mini_racer import JSEvalException, JSTimeoutException, MiniRacer

    source = f"{function_source(code)}; null"
    with _js_lock:
        if _js is None or _js_pid != os.getpid():
            _js, _js_pid = MiniRacer(), os.getpid()
        try:
            _js.eval(source, timeout_sec=JS_COMPILE_TIMEOUT_SEC)
        except JSTimeoutException:
            _js.close()  # the isolate was interrupted mid-parse: start afresh next time
            _js = None
            return f"did not compile within {JS_COMPILE_TIMEOUT_SEC:g} s"
        except JSEvalException as exc:
            return compile_error(str(exc), code)
    return handler_problem(code)
