"""`fasthook listen` ends with one readable line and the contract's exit code when it cannot
start: no API configured (2), an API that does not answer (1)."""

from __future__ import annotations

import os
import subprocess
import sys

from fasthook.cli.profiles import Profile, save_profile
from fasthook.embedded import free_port


def listen(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")}
    return subprocess.run(
        [sys.executable, "-m", "fasthook", "listen", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_no_api_configured_is_a_usage_error():
    done = listen("3000", "--source", "twilio")
    assert done.returncode == 2
    assert "FASTHOOK_API_URL" in done.stderr and "Traceback" not in done.stderr


def test_an_api_that_does_not_answer_is_one_line_and_exit_1():
    done = listen(
        "3000",
        "--source",
        "twilio",
        FASTHOOK_API_URL=f"http://127.0.0.1:{free_port()}",
        FASTHOOK_API_KEY="fhp_x",
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not reachable" in lines[0], done.stderr
    assert done.stdout == ""


def test_listen_is_listed_and_has_help():
    done = subprocess.run(
        [sys.executable, "-m", "fasthook", "listen", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Examples:" in done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "fasthook", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "listen" in listed.stdout


def test_without_the_environment_the_login_profile_says_where_the_api_is(tmp_path):
    config = tmp_path / "config.json"
    save_profile(config, Profile("dev", f"http://127.0.0.1:{free_port()}", "fhp_x"))
    done = listen("3000", "--source", "twilio", FASTHOOK_CONFIG=str(config))
    # Exit 1 (the profile's API does not answer), not 2 (no API configured).
    assert done.returncode == 1, done.stderr
    assert "is not reachable" in done.stderr and "Traceback" not in done.stderr
    # `fasthook --profile NAME listen` names the profile (one that does not exist: refused).
    named = subprocess.run(
        [
            sys.executable,
            "-m",
            "fasthook",
            "--profile",
            "other",
            "listen",
            "3000",
            "--source",
            "twilio",
        ],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")},
            "FASTHOOK_CONFIG": str(config),
        },
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert named.returncode == 2 and "fasthook login" in named.stderr, named.stderr
