"""The subset of ClickHouse's HTTP interface that clients speak, as pure functions.

What a request means (`query` parameter and/or body, `database`, `default_format`,
`param_<name>` values, settings as other parameters, credentials in Basic auth,
`X-ClickHouse-User`/`X-ClickHouse-Key` or `user`/`password`), and how answers look
(ClickHouse's `Code: N. DB::Exception: …` text with `X-ClickHouse-Exception-Code`, its status
codes, content types and `X-ClickHouse-*` headers), so clickhouse-connect, curl, Grafana and
DBeaver need nothing special.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from projections.analysts.statements import ACCESS_DENIED, READONLY

AUTHENTICATION_FAILED = 516
TIMEOUT_EXCEEDED = 159
TOO_MANY_SIMULTANEOUS_QUERIES = 202
UNKNOWN_SETTING = 115
SYNTAX_ERROR = 62
NOT_IMPLEMENTED = 48

# Parameters the HTTP layer itself consumes (never settings of the query).
TRANSPORT = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "enable_http_compression",
        "http_zlib_compression_level",
        "role",
        "max_query_size",
    }
)
# Settings a read-only client may still choose: how results are written, never limits.
_PRESENTATION = re.compile(
    r"^(output_format_\w+|format_\w+|date_time_output_format|date_time_input_format|"
    r"session_timezone|cast_string_to_dynamic_use_inference|join_use_nulls|extremes|"
    r"output_format_json_quote_64bit_integers|use_query_cache)$"
)
# Limits a client may lower (Grafana sends its timeout as max_execution_time), never raise.
LOWERABLE = frozenset(
    {
        "max_execution_time",
        "max_memory_usage",
        "max_result_rows",
        "max_result_bytes",
        "max_threads",
        "max_rows_to_read",
        "max_bytes_to_read",
    }
)

_STATUS = {
    AUTHENTICATION_FAILED: 401,
    194: 401,
    READONLY: 403,
    ACCESS_DENIED: 403,
    SYNTAX_ERROR: 400,
    456: 400,
    457: 400,
    UNKNOWN_SETTING: 400,
    73: 400,
    47: 400,
    46: 400,
    43: 400,
    36: 400,
    53: 400,
    60: 404,
    81: 404,
    NOT_IMPLEMENTED: 501,
    TOO_MANY_SIMULTANEOUS_QUERIES: 503,
}
_CODE = re.compile(r"Code: (\d+)\.")
_NAME = re.compile(r"\((\w+)\)(?: \(version [^)]*\))?\.?\s*$")
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*$")


class ClickHouseFailure(Exception):
    """An answer in ClickHouse's error shape (raised by our checks or by the engine)."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    @classmethod
    def from_engine(cls, text: str) -> ClickHouseFailure:
        """chdb's exception text (`Code: 159. DB::Exception: …. (TIMEOUT_EXCEEDED)`)."""
        start = text.find("Code: ")
        text = (text[start:] if start >= 0 else text).strip()
        code = _CODE.search(text)
        name = _NAME.search(text)
        message = text.split("DB::Exception: ", 1)[-1] if "DB::Exception: " in text else text
        message = _NAME.sub("", message).strip().rstrip(".")
        return cls(
            int(code.group(1)) if code else 1000, name.group(1) if name else "UNKNOWN", message
        )

    def body(self, version: str) -> str:
        return (
            f"Code: {self.code}. DB::Exception: {self.message}. ({self.name}) (version {version})\n"
        )

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 500)


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str


@dataclass
class Incoming:
    sql: str
    database: str | None
    default_format: str
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    compress: bool = False


def credentials(headers: Mapping[str, str], query: Mapping[str, str]) -> Credentials | None:
    """ClickHouse's three places for a user and password, in its order of precedence."""
    user = headers.get("X-ClickHouse-User")
    if user is not None:
        return Credentials(user, headers.get("X-ClickHouse-Key", ""))
    auth = headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
            name, _, password = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials(name, password)
    if "user" in query:
        return Credentials(query["user"], query.get("password", ""))
    return None


def incoming(query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Incoming:
    """The statement and its options. A POST body follows the `query` parameter (ClickHouse
    joins them); `param_x` values bind `{x:Type}` placeholders."""
    if query.get("compress") == "1" or query.get("decompress") == "1":
        # ClickHouse's own block compression (CityHash-checked LZ4/ZSTD frames) is not spoken
        # here; HTTP compression (gzip, deflate) is.
        raise ClickHouseFailure(
            NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "compress=1 / decompress=1 (native LZ4/ZSTD) is not supported by this endpoint: "
            "turn the client's compression off or use HTTP compression (gzip)",
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise ClickHouseFailure(
            SYNTAX_ERROR, "SYNTAX_ERROR", "the query is not valid UTF-8"
        ) from None
    sql = "\n".join(part for part in (query.get("query", ""), text) if part.strip())
    params = {k[6:]: v for k, v in query.items() if k.startswith("param_")}
    settings = {k: v for k, v in query.items() if k not in TRANSPORT and not k.startswith("param_")}
    compress = query.get("enable_http_compression") == "1" and any(
        c in headers.get("Accept-Encoding", "") for c in ("gzip", "deflate")
    )
    return Incoming(
        sql=sql,
        database=query.get("database") or None,
        default_format=query.get("default_format") or "TabSeparated",
        params=params,
        settings=settings,
        compress=compress,
    )


def session_settings(requested: Mapping[str, str], limits: Mapping[str, int]) -> dict[str, str]:
    """What the analyst's engine handle is set to before it turns read-only: our limits,
    lowered where the client asked, plus the client's presentation settings. Anything else
    is refused, as a readonly ClickHouse user's would be."""
    chosen = {name: str(value) for name, value in limits.items()}
    for name, value in requested.items():
        if name in LOWERABLE and name in limits:
            try:
                asked = int(float(value))
            except ValueError:
                raise ClickHouseFailure(
                    SYNTAX_ERROR, "CANNOT_PARSE_NUMBER", f"setting {name}={value!r} is not a number"
                ) from None
            if 0 < asked < limits[name]:
                chosen[name] = str(asked)
        elif name in LOWERABLE:
            continue
        elif _PRESENTATION.match(name):
            chosen[name] = value
        else:
            raise ClickHouseFailure(
                READONLY, "READONLY", f"Cannot modify '{name}' setting in readonly mode"
            )
    return chosen


def output_format(formatted_sql: str, default_format: str) -> str:
    """The format the answer is in: the statement's own FORMAT clause, else default_format."""
    match = _FORMAT_CLAUSE.search(formatted_sql.strip())
    return match.group(1) if match else default_format


def content_type(fmt: str) -> str:
    name = fmt.lower()
    if name.startswith("jsoneachrow") or name in ("jsonlines", "ndjson", "jsoncompacteachrow"):
        return "application/x-ndjson; charset=UTF-8"
    if name.startswith("json"):
        return "application/json; charset=UTF-8"
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if name in (
        "native",
        "rowbinary",
        "rowbinarywithnames",
        "rowbinarywithnamesandtypes",
        "arrow",
        "arrowstream",
        "parquet",
        "orc",
        "avro",
        "msgpack",
        "protobuf",
    ):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def summary(
    rows_read: int, bytes_read: int, result_rows: int, result_bytes: int, elapsed_s: float
) -> str:
    """`X-ClickHouse-Summary`: the server's progress counters, as clients parse them."""
    return json.dumps(
        {
            "read_rows": str(rows_read),
            "read_bytes": str(bytes_read),
            "written_rows": "0",
            "written_bytes": "0",
            "total_rows_to_read": str(rows_read),
            "result_rows": str(result_rows),
            "result_bytes": str(result_bytes),
            "elapsed_ns": str(int(elapsed_s * 1e9)),
        },
        separators=(",", ":"),
    )


def escape_param(value: str) -> str:
    """A `{q:String}` parameter's value as the engine parses it (escaped, like TSV)."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )
