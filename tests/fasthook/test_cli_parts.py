"""The CLI's pure parts: problem lines, profile resolution, filters, log parsing and merging,
the dashboard's health decisions — and docs/cli.md equals what the commands generate."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from fasthook.cli import cli
from fasthook.cli.bulk import coerce
from fasthook.cli.client import problem_line
from fasthook.cli.docs import reference, walk
from fasthook.cli.profiles import Profile, resolve, save_profile
from fasthook.cli.resources import editable, put_at
from fasthook.cli.traffic import filter_pairs
from fasthook.dashboard import (
    UNHEALTHY_AFTER,
    Health,
    change_line,
    error_in,
    human,
    last_error,
)
from fasthook.embedded import free_port
from fasthook.errors import EmbeddedStackError, FastHookCliError
from fasthook.logfiles import Follower, known_noise, log_path, parse, read_merged
from fasthook.stack import check_ports

ROOT = Path(__file__).resolve().parents[2]


def test_docs_cli_md_is_generated_from_the_commands():
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == reference(), "run: python -m fasthook.cli.docs > docs/cli.md"


def test_every_command_has_help_with_examples():
    for path, text in walk(cli, None, "fasthook"):
        assert "Examples:" in text and "fasthook" in text.split("Examples:")[1], path


def test_a_problem_is_one_line_naming_each_field_path():
    line = problem_line(
        422,
        {
            "title": "Unprocessable Entity",
            "detail": "the source is not valid",
            "errors": [
                {"path": "config.auth.auth_token", "message": "required"},
                {"path": "name", "message": "too long"},
            ],
        },
    )
    assert line == (
        "422 Unprocessable Entity: the source is not valid "
        "(config.auth.auth_token: required; name: too long)"
    )
    assert problem_line(503, {}) == "503 HTTP 503"
    assert "\n" not in problem_line(500, {"detail": "a\nb".replace("\n", " ")})


def test_profiles_resolve_current_named_and_environment(tmp_path):
    path = tmp_path / "config.json"
    with pytest.raises(FastHookCliError, match="fasthook login"):
        resolve(path, None, {})
    save_profile(path, Profile("a", "http://a", "fhp_a"))
    save_profile(path, Profile("b", "http://b", "fhp_b", "tm_b"))
    assert resolve(path, None, {}) == Profile("b", "http://b", "fhp_b", "tm_b")
    assert resolve(path, "a", {}).api_url == "http://a"
    assert resolve(path, None, {"FASTHOOK_PROFILE": "a"}).api_key == "fhp_a"
    env = {"FASTHOOK_API_URL": "http://env/", "FASTHOOK_API_KEY": "fhp_env"}
    assert resolve(path, "a", env) == Profile("a", "http://env", "fhp_env", None)
    with pytest.raises(FastHookCliError, match="no profile 'zz'"):
        resolve(path, "zz", {})
    # The environment alone is enough (no file at all).
    assert resolve(tmp_path / "none.json", None, env).api_key == "fhp_env"


def test_filters_and_their_json_types():
    assert filter_pairs(("status=FAILED", "created_at[gte]=2025-01-01T00:00:00Z", "q=a=b")) == {
        "status": "FAILED",
        "created_at[gte]": "2025-01-01T00:00:00Z",
        "q": "a=b",
    }
    with pytest.raises(click.BadParameter):
        filter_pairs(("status",))
    assert coerce({"response_status": "500", "include_data": "true", "q": "x1"}) == {
        "response_status": 500,
        "include_data": True,
        "q": "x1",
    }


def test_an_update_body_keeps_input_fields_and_unpauses_nothing():
    model = {
        "id": "con_1",
        "team_id": "tm",
        "name": "n",
        "status": "paused",
        "rules": [{"type": "delay", "delay": 5}],
        "paused_at": "t",
        "created_at": "t",
        "source_id": "src_1",
        "destination_id": "des_1",
        "description": None,
    }
    body = editable(model)
    assert body == {
        "name": "n",
        "status": "enabled",
        "rules": [{"type": "delay", "delay": 5}],
        "source_id": "src_1",
        "destination_id": "des_1",
        "description": None,
    }
    put_at(body, ("config", "auth", "token"), "x")
    assert body["config"] == {"auth": {"token": "x"}}


def test_log_lines_parse_json_text_and_untimed(tmp_path):
    record = {
        "ts": "2026-01-01T00:00:01.000Z",
        "level": "info",
        "service": "api",
        "logger": "x",
        "msg": "hello",
        "k": 1,
    }
    entry = parse("api", json.dumps(record))
    assert entry.ts == record["ts"] and entry.record is not None and entry.record["k"] == 1
    plain = parse("router", "[2026-01-01 00:00:02,500] [1] [INFO] [^Worker]: Starting...")
    assert plain.ts == "2026-01-01T00:00:02.500Z" and plain.record is None
    assert parse("broker", "press Ctrl-C to stop", previous_ts=plain.ts).ts == plain.ts
    noise = (
        "noida-db: /lib/x86_64-linux-gnu/libc.so.6: weak version `GLIBC_2.39' not found "
        "(required by noida-db)"
    )
    assert known_noise(noise) and "harmless" in human(parse("broker", noise)).plain
    assert "hello" in human(entry).plain and "k=1" in human(entry).plain


def test_logs_merge_by_time_and_follow_new_lines(tmp_path):
    log_path(tmp_path, "api").parent.mkdir()
    log_path(tmp_path, "api").write_text(
        '{"ts":"2026-01-01T00:00:01.000Z","msg":"a1"}\n'
        '{"ts":"2026-01-01T00:00:03.000Z","msg":"a3"}\n'
    )
    log_path(tmp_path, "router").write_text("[2026-01-01 00:00:02,000] r2\n  continued\n")
    merged = read_merged(tmp_path, ("api", "router", "deliverer"))
    assert [e.record["msg"] if e.record else e.line.split("]")[-1].strip() for e in merged] == [
        "a1",
        "r2",
        "continued",
        "a3",
    ]
    follower = Follower(tmp_path, ("api", "router"))
    assert follower.poll() == []
    with open(log_path(tmp_path, "router"), "a") as file:
        file.write("[2026-01-01 00:00:04,000] r4\npartial")
    assert [e.line for e in follower.poll()] == ["[2026-01-01 00:00:04,000] r4"]
    with open(log_path(tmp_path, "router"), "a") as file:
        file.write(" line\n")
    [entry] = follower.poll()
    assert entry.line == "partial line" and entry.ts == "2026-01-01T00:00:04.000Z"


def test_health_says_unhealthy_once_and_healthy_again():
    health = Health()
    assert health.observe(False) is None  # still starting: the banner waits for readiness
    assert health.observe(True) is None
    said = [health.observe(False) for _ in range(UNHEALTHY_AFTER + 2)]
    assert [s for s in said if s] and sum(1 for s in said if s) == 1
    assert "unhealthy" in next(s for s in said if s)[0]
    assert health.observe(True) == ("healthy again", "green")
    health.exited()
    assert health.observe(False) is None  # down: the exit line said it
    health.respawned()
    assert health.observe(True) == ("ready again", "green")
    assert (
        "fasthook logs router"
        in change_line("router", "exited", {"exit_code": 1, "lived_s": 2.0, "restart_in_s": 0.5})[0]
    )


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(min_value=0, max_value=59)), max_size=30
    )
)
def test_a_merge_is_ordered_by_time(stamps):
    lines = {"a": [], "b": []}
    for service, second in stamps:
        lines[service].append(second)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "logs").mkdir()
        for service, seconds in lines.items():
            log_path(tmp, service).write_text(
                "".join(
                    json.dumps({"ts": f"2026-01-01T00:00:{s:02d}.000Z", "msg": "m"}) + "\n"
                    for s in sorted(seconds)
                )
            )
        merged = read_merged(tmp, ("a", "b"))
    assert [e.ts for e in merged] == sorted(e.ts for e in merged)
    assert len(merged) == len(stamps)


def test_a_crash_line_names_its_cause():
    traceback = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "OSError: [Errno 98] error while attempting to bind on address: address already in use",
    ]
    assert error_in(traceback) == traceback[-1]
    record = json.dumps(
        {
            "ts": "2026-01-01T00:00:00.000Z",
            "level": "error",
            "msg": "boom",
            "exc": "Traceback…\nValueError: bad",
        }
    )
    assert error_in(["plain", record, "[2026-01-01 00:00:00,000] [1] [INFO] later"]) == (
        "ValueError: bad"
    )
    assert error_in(["all", "fine"]) is None
    line = change_line(
        "api",
        "exited",
        {"exit_code": 1, "lived_s": 0.4, "restart_in_s": 1.0, "cause": traceback[-1]},
    )[0]
    assert "address already in use" in line and "fasthook logs api" in line


def test_a_crash_reads_only_its_own_run(tmp_path):
    path = tmp_path / "router.log"
    path.write_text("ValueError: from an older run\n")
    since = path.stat().st_size
    with open(path, "a") as file:
        file.write("[2026-01-01 00:00:00,000] [1] [INFO] Starting...\n")
    assert last_error(path, since) is None
    assert last_error(path) == "ValueError: from an older run"
    assert "killed by SIGKILL" in change_line("router", "exited", {"exit_code": -9})[0]


def test_an_api_that_does_not_answer_is_one_line_and_exit_1(tmp_path):
    env = {
        "FASTHOOK_API_URL": f"http://127.0.0.1:{free_port()}",
        "FASTHOOK_API_KEY": "fhp_x",
        "FASTHOOK_CONFIG": str(tmp_path / "config.json"),
    }
    result = CliRunner().invoke(cli, ["sources", "list"], env=env)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("fasthook: the API at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1
    # Without any API configured: the same, saying how to configure one.
    result = CliRunner().invoke(
        cli,
        ["events", "list"],
        env={
            "FASTHOOK_CONFIG": str(tmp_path / "none.json"),
            "FASTHOOK_API_URL": "",
            "FASTHOOK_API_KEY": "",
        },
    )
    assert result.exit_code == 1 and "fasthook login" in result.stderr


def test_completion_scripts_are_clicks():
    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(cli, ["completion", shell])
        assert result.exit_code == 0 and "_FASTHOOK_COMPLETE" in result.stdout
    assert CliRunner().invoke(cli, ["completion", "tcsh"]).exit_code == 2


def test_logs_follow_prints_new_lines_as_they_come(tmp_path):
    api_log = log_path(tmp_path, "api")
    api_log.parent.mkdir()
    api_log.write_text('{"ts":"2026-01-01T00:00:01.000Z","level":"info","msg":"old"}\n')
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fasthook",
            "logs",
            "api",
            "-f",
            "--json",
            "-n",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while not line:
            assert time.monotonic() < deadline and follow.poll() is None
            with open(api_log, "a") as file:  # until the follower (slow to start) sees one
                file.write('{"ts":"2026-01-01T00:00:02.000Z","level":"error","msg":"new"}\n')
            ready, _, _ = select.select([follow.stdout], [], [], 1)
            if ready:
                line = follow.stdout.readline()
        assert json.loads(line) == {
            "service": "api",
            "ts": "2026-01-01T00:00:02.000Z",
            "level": "error",
            "msg": "new",
        }
    finally:
        follow.send_signal(signal.SIGINT)
        assert follow.wait(30) == 0, follow.stderr.read()


def test_a_taken_port_is_one_line_naming_the_setting():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        free = free_port()
        with pytest.raises(EmbeddedStackError) as refused:
            check_ports(
                [
                    ("api", "127.0.0.1", port, "FASTHOOK_API_PORT"),
                    ("router", "127.0.0.1", free, "FASTHOOK_ROUTER_PORT"),
                ]
            )
    message = str(refused.value)
    assert f"api 127.0.0.1:{port} (move it with FASTHOOK_API_PORT)" in message
    assert "another `fasthook run`" in message and "router" not in message
    check_ports([("router", "127.0.0.1", free, "FASTHOOK_ROUTER_PORT")])  # free: no error
