"""Views over the tables: the latest state of each event, and Twilio's callbacks made
queryable (latest status per MessageSid, calls ordered by SequenceNumber).

The event aggregation is shared with the query builders, so the API and an analyst's
`SELECT … FROM events` can never disagree about an event's status.
"""

from __future__ import annotations

# One event = every fact about it in event_log: created (or re-queued: retry, unpause),
# held, attempted. Its state is the state of the latest fact by (at, rank); rank breaks
# ties in favour of the attempt. Every aggregate here ignores duplicate rows (any, argMax,
# uniqExact, min, max), so an unmerged replay changes nothing. Nullable values ride in a
# tuple: argMax would otherwise skip a NULL and return an older non-NULL value. Aliases are
# prefixed: ClickHouse resolves a name to a SELECT alias before a column.
EVENT_AGGREGATES = """
    any(request_id) AS e_request_id,
    any(source_id) AS e_source_id,
    any(connection_id) AS e_connection_id,
    any(destination_id) AS e_destination_id,
    argMax(state, (at, rank)) AS e_status,
    uniqExactIf(attempt_id, fact = 'ATTEMPT') AS e_attempts,
    argMaxIf(tuple(outcome_status, outcome_error), (at, rank), fact = 'ATTEMPT') AS e_outcome,
    tupleElement(e_outcome, 1) AS e_response_status,
    tupleElement(e_outcome, 2) AS e_error_code,
    maxIfOrNull(at, fact = 'ATTEMPT') AS e_last_attempt_at,
    tupleElement(argMax(tuple(next_due_at), (at, rank)), 1) AS e_next_attempt_at,
    minIfOrNull(at, fact = 'ATTEMPT' AND state = 'SUCCESSFUL') AS e_successful_at,
    ifNull(minIfOrNull(event_created_at, fact != 'ATTEMPT'), min(event_created_at))
        AS e_created_at"""

EVENT_COLUMNS = """
    e_request_id AS request_id, e_source_id AS source_id, e_connection_id AS connection_id,
    e_destination_id AS destination_id, e_status AS status, e_attempts AS attempts,
    e_response_status AS response_status, e_error_code AS error_code,
    e_last_attempt_at AS last_attempt_at, e_next_attempt_at AS next_attempt_at,
    e_successful_at AS successful_at, e_created_at AS created_at"""

EVENTS_VIEW = f"""
CREATE VIEW IF NOT EXISTS {{db}}.events AS
SELECT team_id, event_id, {EVENT_COLUMNS}
FROM (SELECT team_id, event_id, {EVENT_AGGREGATES}
      FROM {{db}}.event_log GROUP BY team_id, event_id)"""


def _field(name: str) -> str:
    """A Twilio parameter from a callback: form body, JSON body, or (GET) query string."""
    return (
        "multiIf(startsWith(lower(content_type), 'application/x-www-form-urlencoded'), "
        f"decodeURLFormComponent(extractURLParameter(concat('?', body), '{name}')), "
        f"position(lower(content_type), 'json') > 0, JSONExtractString(body, '{name}'), "
        f"decodeURLFormComponent(extractURLParameter(concat('?', query), '{name}')))"
    )


# Twilio sends message callbacks in any order (`sent` may arrive after `delivered`). The
# status shown is the one of highest precedence; terminal states rank above every
# intermediate one, so the status never moves back from a terminal state. Among equal ranks
# (e.g. delivered then failed) the later arrival wins.
MESSAGE_RANK = (
    "transform(message_status, ['accepted', 'scheduled', 'queued', 'sending', 'sent', "
    "'receiving', 'received', 'delivered', 'undelivered', 'failed', 'partially_delivered', "
    "'canceled', 'read'], [1, 1, 2, 3, 4, 4, 6, 6, 6, 6, 6, 6, 7], 0)"
)
MESSAGE_TERMINAL = (
    "'received', 'delivered', 'undelivered', 'failed', 'partially_delivered', 'canceled', 'read'"
)
CALL_RANK = (
    "transform(call_status, ['queued', 'initiated', 'ringing', 'in-progress', 'completed', "
    "'busy', 'failed', 'no-answer', 'canceled'], [1, 2, 3, 4, 5, 5, 5, 5, 5], 0)"
)

# Only accepted, original callbacks: a replay (replay_of set) re-sends an old one.
TWILIO_MESSAGE_CALLBACKS = f"""
CREATE VIEW IF NOT EXISTS {{db}}.twilio_message_callbacks AS
SELECT team_id, source_id, request_id, received_at, message_sid, message_status,
       {MESSAGE_RANK} AS status_rank, error_code, account_sid, to_number, from_number
FROM (
    SELECT team_id, source_id, request_id, received_at,
           {_field("MessageSid")} AS message_sid,
           lower(if({_field("MessageStatus")} != '', {_field("MessageStatus")},
                    {_field("SmsStatus")})) AS message_status,
           {_field("ErrorCode")} AS error_code,
           {_field("AccountSid")} AS account_sid,
           {_field("To")} AS to_number,
           {_field("From")} AS from_number
    FROM {{db}}.requests FINAL
    WHERE status = 'accepted' AND replay_of IS NULL
)
WHERE message_sid != '' AND message_status != ''"""

# Aggregates get m_/c_ aliases inside, renamed outside: see EVENT_AGGREGATES.
TWILIO_MESSAGES = f"""
CREATE VIEW IF NOT EXISTS {{db}}.twilio_messages AS
SELECT team_id, message_sid, m_status AS status, m_status IN ({MESSAGE_TERMINAL}) AS is_terminal,
       m_error_code AS error_code, m_account_sid AS account_sid, m_to AS to_number,
       m_from AS from_number, m_source_id AS source_id, m_callbacks AS callbacks,
       m_first AS first_callback_at, m_last AS last_callback_at
FROM (
    SELECT team_id, message_sid,
           argMax(message_status, (status_rank, received_at, request_id)) AS m_status,
           argMax(error_code, (status_rank, received_at, request_id)) AS m_error_code,
           any(account_sid) AS m_account_sid, any(to_number) AS m_to,
           any(from_number) AS m_from, any(source_id) AS m_source_id,
           uniqExact(request_id) AS m_callbacks,
           min(received_at) AS m_first, max(received_at) AS m_last
    FROM {{db}}.twilio_message_callbacks
    GROUP BY team_id, message_sid
)"""

TWILIO_CALL_CALLBACKS = f"""
CREATE VIEW IF NOT EXISTS {{db}}.twilio_call_callbacks AS
SELECT team_id, source_id, request_id, received_at, call_sid, call_status,
       {CALL_RANK} AS status_rank, sequence_number, callback_source, call_duration,
       account_sid
FROM (
    SELECT team_id, source_id, request_id, received_at,
           {_field("CallSid")} AS call_sid,
           lower({_field("CallStatus")}) AS call_status,
           toUInt32OrNull({_field("SequenceNumber")}) AS sequence_number,
           {_field("CallbackSource")} AS callback_source,
           toUInt32OrNull({_field("CallDuration")}) AS call_duration,
           {_field("AccountSid")} AS account_sid
    FROM {{db}}.requests FINAL
    WHERE status = 'accepted' AND replay_of IS NULL
)
WHERE call_sid != '' AND call_status != ''
ORDER BY team_id, call_sid, sequence_number, received_at"""

# A call's state is its callback with the highest SequenceNumber (Twilio numbers them from
# 0 in the order it emitted them); callbacks without one fall back to status precedence.
TWILIO_CALLS = """
CREATE VIEW IF NOT EXISTS {db}.twilio_calls AS
SELECT team_id, call_sid, c_status AS status, c_sequence AS last_sequence_number,
       c_duration AS call_duration, c_source_id AS source_id, c_callbacks AS callbacks,
       c_first AS first_callback_at, c_last AS last_callback_at
FROM (
    SELECT team_id, call_sid,
           argMax(call_status, (ifNull(toInt64(sequence_number), -1), status_rank,
                                received_at)) AS c_status,
           max(sequence_number) AS c_sequence, max(call_duration) AS c_duration,
           any(source_id) AS c_source_id, uniqExact(request_id) AS c_callbacks,
           min(received_at) AS c_first, max(received_at) AS c_last
    FROM {db}.twilio_call_callbacks
    GROUP BY team_id, call_sid
)"""

VIEW_NAMES = (
    "events",
    "twilio_message_callbacks",
    "twilio_messages",
    "twilio_call_callbacks",
    "twilio_calls",
)
VIEW_STATEMENTS = (
    EVENTS_VIEW,
    TWILIO_MESSAGE_CALLBACKS,
    TWILIO_MESSAGES,
    TWILIO_CALL_CALLBACKS,
    TWILIO_CALLS,
)
