"""Shared by the reliability suites: a distinctive key, and a connector run that fails if the key shows anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration_tests.connector_cli import Run, run_connector

# Distinctive, so that any echo of it (logs, traces, error messages, an Authorization header) is found.
SECRET_KEY = "sk_live_Reliab1lity_9f3c7e21d8b4"
CONFIG = {"api_key": SECRET_KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "max_requests_per_second": 1000}


def run_without_leaking(command: str, tmp_path: Path, config: dict[str, Any], **kwargs: Any) -> Run:
    """`run_connector`, plus the secrets check every reliability test makes: the key is in neither stdout nor stderr."""
    run = run_connector(command, tmp_path, config, **kwargs)
    assert SECRET_KEY not in run.stdout + run.stderr, "the API key was printed"
    return run
