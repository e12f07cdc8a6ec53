"""What a transformation's code is, for the API that checks it and the router that runs it.

The code is the body of a function taking ``addHandler`` (Hookdeck's shape): compiled with
``new Function``, so it gets no module scope, and it must register
``addHandler('transform', (request, context) => request)``. Pure: V8 itself stays with the
services that run it.
"""

from __future__ import annotations

import json
import re
from typing import Final

# `new Function` puts the body after "(function anonymous(addHandler\n) {\n".
_WRAPPER_LINES: Final = 2
_HANDLER_CALL = re.compile(r"\baddHandler\s*\(")
_V8_LOCATION = re.compile(r"undefined:(\d+): (.*)")
MISSING_HANDLER: Final = (
    "must register a handler with addHandler('transform', (request, context) => request)"
)


def function_source(code: str) -> str:
    """A JavaScript expression for the transformation as a function of ``addHandler``.

    json.dumps yields a valid JS string literal: the code is data, never spliced as source.
    ``new Function`` parses the whole body without running it, and V8 refuses a body that
    would escape the function.
    """
    return f"new Function('addHandler', {json.dumps(code)})"


def handler_problem(code: str) -> str | None:
    """Why compiled ``code`` cannot be a transformation (it registers no handler), or None."""
    return None if _HANDLER_CALL.search(code) else MISSING_HANDLER


def compile_error(message: str, code: str) -> str:
    """V8's compile error, with the line and column in the user's own code."""
    lines = message.splitlines()
    located = _V8_LOCATION.match(lines[0]) if lines else None
    if located is None:
        return lines[0] if lines else "does not compile as JavaScript"
    line, text = int(located.group(1)) - _WRAPPER_LINES, located.group(2)
    if not 1 <= line <= code.count("\n") + 1:
        return f"{text} (at the end of the code)"
    caret = lines[2].find("^") if len(lines) > 2 else -1
    return f"{text} (line {line}, column {caret + 1})" if caret >= 0 else f"{text} (line {line})"
