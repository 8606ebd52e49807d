"""Running the connector as users do (a subprocess speaking the Airbyte protocol), and the emulator's ground truth
for each stream, for tests that compare the two."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


ROOT = Path(__file__).resolve().parents[1]
STREAMS = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())["streams"]
STREAM_NAMES = [entry["stream"]["name"] for entry in STREAMS]
# Settings under which every stream of the catalog has records: a configured segment and every plan's.
SEGMENTED = {"metrics_segments": [{"name": "Europe in EUR", "filters": "currency~ANY~'EUR'", "geo": "DE,FR,ES"}], "metrics_by_plan": True}


@dataclass
class Run:
    returncode: int
    messages: list[dict[str, Any]]
    stdout: str
    stderr: str

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == message_type]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream]

    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def final_state(self, stream: str) -> dict[str, Any] | None:
        states = [m["state"]["stream"] for m in self.of_type("STATE")]
        return [s["stream_state"] for s in states if s["stream_descriptor"]["name"] == stream][-1] if states else None


def configured(entry: dict[str, Any], sync_mode: str) -> dict[str, Any]:
    if sync_mode == "full_refresh":
        return entry
    stream = {**entry["stream"], "supported_sync_modes": ["full_refresh", "incremental"], "source_defined_cursor": True, "default_cursor_field": ["date"]}
    return {"stream": stream, "sync_mode": "incremental", "cursor_field": ["date"], "destination_sync_mode": "append_dedup"}


def connector_command(
    command: str,
    tmp_path: Path,
    config: Any,
    streams: list[str] | None = None,
    sync_mode: str = "full_refresh",
    state: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
    debug: bool = False,
    states: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """`python main.py <command> --config ... [--catalog ...] [--state ...] [--debug]`, its files written to tmp_path. A
    read's catalog is `catalog` as given, or else the configured catalog's `streams` in `sync_mode`. `state` is one
    stream's state (the streams must then be that one stream); `states`, the state of each stream named."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    args = [sys.executable, str(ROOT / "main.py"), command, "--config", str(config_file)]
    if command == "read":
        catalog_file = tmp_path / "catalog.json"
        if catalog is None:
            catalog = {"streams": [configured(entry, sync_mode) for entry in STREAMS if streams is None or entry["stream"]["name"] in streams]}
        catalog_file.write_text(json.dumps(catalog))
        args += ["--catalog", str(catalog_file)]
    if state is not None:
        (stream,) = streams or []
        states = {stream: state}
    if states is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps([{"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}
                                          for name, stream_state in states.items()]))
        args += ["--state", str(state_file)]
    return args + ["--debug"] * debug


def run_connector(
    command: str, tmp_path: Path, config: Any, streams: list[str] | None = None, timeout: float = 300, **catalog_state_and_debug: Any
) -> Run:
    """The connector_command run to its end in a subprocess; its parsed stdout."""
    result = subprocess.run(connector_command(command, tmp_path, config, streams, **catalog_state_and_debug),
                            capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return Run(result.returncode, messages, result.stdout, result.stderr)


def as_multiset(records: list[dict[str, Any]]) -> Counter[str]:
    """Records as a multiset, so that a comparison sees a missing, an unexpected and a duplicated record alike."""
    return Counter(json.dumps(record, sort_keys=True) for record in records)
