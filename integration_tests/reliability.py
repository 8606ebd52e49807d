"""Shared by the reliability suites: a distinctive key, every form in which it could be read back from an output, and
a connector run that fails if any of them shows."""

from __future__ import annotations

import base64
import signal
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from integration_tests.connector_cli import Run, run_connector
from source_chartmogul.run import INTERRUPTED

# Distinctive, so that any echo of it (logs, traces, error messages, an Authorization header) is found; "+" and "/"
# make its URL-encoded forms differ from it.
SECRET_KEY = "sk_live_Reliab1lity+9f3c/7e21d8b4"
CONFIG = {"api_key": SECRET_KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "max_requests_per_second": 1000}


def forms_of_key(key: str) -> dict[str, str]:
    """Every form in which `key` could leak, by name: itself; the HTTP Basic credentials, base64 of `key:` (as sent,
    so also inside `Basic <base64>`) and of `key:key`, without padding so that a cut copy is found too; URL-encoded
    (path and form style); JSON-escaped."""
    def base64_unpadded(text: str) -> str:
        return base64.b64encode(text.encode()).decode().rstrip("=")

    return {
        "raw": key, "base64 of 'key:'": base64_unpadded(f"{key}:"), "base64 of 'key:key'": base64_unpadded(f"{key}:{key}"),
        "URL-encoded": quote(key, safe=""), "URL-encoded (form)": quote_plus(key), "JSON-escaped": json.dumps(key)[1:-1],
    }


def assert_key_hidden(output: str, key: str) -> None:
    """Fails naming each form of `key` that `output` holds."""
    shown = [name for name, form in forms_of_key(key).items() if form in output]
    assert not shown, f"the API key was printed, as: {', '.join(shown)}"


def run_without_leaking(command: str, tmp_path: Path, config: dict[str, Any], **kwargs: Any) -> Run:
    """`run_connector`, plus the secrets check every reliability test makes: the key, in no form, in stdout or stderr."""
    run = run_connector(command, tmp_path, config, **kwargs)
    assert_key_hidden(run.stdout + run.stderr, config["api_key"])
    return run


def interrupted_messages(args: list[str], cwd: Path, after_states: int, signal_number: int, reader_lag_s: float,
                         stream: str | None = None, key: str = SECRET_KEY) -> list[dict[str, Any]]:
    """Runs the read `args`, sends the connector `signal_number` once it has emitted `after_states` STATE messages (of
    `stream`, or of any stream), `reader_lag_s` after it (a reader that stops reading for that long, as a destination
    applying backpressure does: the pipe fills, and the connector is blocked in the middle of writing a batch when the
    signal comes); the messages the connector delivered. After a SIGKILL, what it emitted up to that point (the rest of
    the pipe may end on a torn line); after a SIGTERM or a SIGINT, everything it wrote up to its exit, each line of which
    must be a whole message. A SIGINT (Ctrl-C) must end it with exit status 130, nothing on stderr (no traceback) and
    the line that says so."""
    stderr_file = cwd / "interrupted.stderr"
    with stderr_file.open("w") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=cwd)
    messages, states = [], 0
    assert process.stdout is not None
    for line in process.stdout:
        assert_key_hidden(line, key)
        assert line.endswith("\n"), f"a torn last line: {line[-200:]!r}"
        messages.append(json.loads(line))
        if messages[-1]["type"] == "STATE" and stream in (None, messages[-1]["state"]["stream"]["stream_descriptor"]["name"]):
            states += 1
            if states == after_states:
                time.sleep(reader_lag_s)
                process.send_signal(signal_number)
                if signal_number == signal.SIGKILL:
                    break
    process.wait(timeout=60)
    assert process.returncode == (130 if signal_number == signal.SIGINT else -signal_number), \
        f"the sync ended with {process.returncode}: before the signal? choose an earlier point"
    if signal_number == signal.SIGINT:
        assert stderr_file.read_text() == ""
        assert messages[-1] == {"type": "LOG", "log": {"level": "WARN", "message": INTERRUPTED}}
    return messages


def interrupted_read(args: list[str], cwd: Path, after_states: int, signal_number: int, reader_lag_s: float, stream: str,
                     key: str = SECRET_KEY) -> tuple[list[dict[str, Any]], Any]:
    """interrupted_messages after `after_states` STATE messages of `stream`: the records of `stream` and its last state
    that the connector delivered."""
    messages = interrupted_messages(args, cwd, after_states, signal_number, reader_lag_s, stream, key)
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD" and m["record"]["stream"] == stream]
    states = [m["state"]["stream"]["stream_state"] for m in messages
              if m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream]
    return records, states[-1] if states else None
