"""Shared by the reliability suites: a distinctive key, every form in which it could be read back from an output, and
a connector run that fails if any of them shows."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from integration_tests.connector_cli import Run, run_connector

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
