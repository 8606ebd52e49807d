"""Running the connector as users do (a subprocess speaking the Airbyte protocol), and the emulator's ground truth
for each stream, for tests that compare the two."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from chartmogul_emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
STREAMS = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())["streams"]
STREAM_NAMES = [entry["stream"]["name"] for entry in STREAMS]


@dataclass
class Run:
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == message_type]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream]

    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


def run_connector(command: str, tmp_path: Path, config: Mapping[str, Any], streams: list[str] | None = None, timeout: float = 300) -> Run:
    """`python main.py <command> --config ... [--catalog ...]` in a subprocess; its parsed stdout."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    args = [sys.executable, str(ROOT / "main.py"), command, "--config", str(config_file)]
    if command == "read":
        catalog_file = tmp_path / "catalog.json"
        selected = [entry for entry in STREAMS if streams is None or entry["stream"]["name"] in streams]
        catalog_file.write_text(json.dumps({"streams": selected}))
        args += ["--catalog", str(catalog_file)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return Run(result.returncode, messages, result.stderr)


METRIC_ENDPOINTS = {"customer_count": "customer-count", "key_metrics": "all", "mrr_metrics": "mrr"}
LIST_ENDPOINTS = {
    "customers": "customers", "plans": "plans", "plan_groups": "plan_groups", "invoices": "invoices",
    "subscription_events": "subscription_events", "data_sources": "data_sources", "account": "account",
    "contacts": "contacts", "customer_notes": "customer_notes", "opportunities": "opportunities", "tasks": "tasks",
}


def ground_truth(emulator: Emulator, stream: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every record a correct sync of `stream` with `config` delivers, as the connector emits it."""
    if stream == "activities":
        records = emulator.truth("/v1/activities", {"start-date": config["start_date"], "end-date": config["end_date"]})
    elif stream in METRIC_ENDPOINTS:
        days = {"start-date": config["start_date"][:10], "end-date": config["end_date"][:10]}
        records = emulator.truth(f"/v1/metrics/{METRIC_ENDPOINTS[stream]}", {**days, "interval": config.get("interval", "month")})
    elif stream == "plan_group_plans":
        records = [
            {**plan, "plan_group_uuid": group["uuid"]}
            for group in emulator.truth("/v1/plan_groups")
            for plan in emulator.truth(f"/v1/plan_groups/{group['uuid']}/plans")
        ]
    elif stream == "customer_subscriptions":
        records = [
            {**subscription, "customer_uuid": customer["uuid"]}
            for customer in emulator.truth("/v1/customers")
            for subscription in emulator.truth(f"/v1/customers/{customer['uuid']}/subscriptions")
        ]
    else:
        records = emulator.truth(f"/v1/{LIST_ENDPOINTS[stream]}")
    # The CDK leaves out a record's top-level fields whose value is null when it writes the record message.
    return [{key: value for key, value in record.items() if value is not None} for record in records]
