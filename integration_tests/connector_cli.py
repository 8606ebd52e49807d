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

from chartmogul_emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
STREAMS = json.loads((ROOT / "integration_tests" / "configured_catalog.json").read_text())["streams"]
STREAM_NAMES = [entry["stream"]["name"] for entry in STREAMS]


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


METRIC_ENDPOINTS = {"customer_count": "customer-count", "key_metrics": "all", "mrr_metrics": "mrr"}
LIST_ENDPOINTS = {
    "customers": "customers", "plans": "plans", "plan_groups": "plan_groups", "invoices": "invoices",
    "subscription_events": "subscription_events", "data_sources": "data_sources", "account": "account",
    "contacts": "contacts", "customer_notes": "customer_notes", "opportunities": "opportunities", "tasks": "tasks",
}


# The children's endpoints, under /v1/ and with their parent's uuid in braces (the emulator's request counters' keys).
CHILD_ENDPOINTS = {"plan_group_plans": "plan_groups/{uuid}/plans", "customer_subscriptions": "customers/{uuid}/subscriptions"}


def endpoint_template(stream: str) -> str:
    """The path of the endpoint `stream` reads, as the emulator's statistics count its requests."""
    if stream in METRIC_ENDPOINTS:
        return f"/v1/metrics/{METRIC_ENDPOINTS[stream]}"
    return "/v1/" + {**LIST_ENDPOINTS, **CHILD_ENDPOINTS}.get(stream, stream)  # activities: /v1/activities


ACCOUNT_SETTINGS = "churn_recognition,churn_when_zero_mrr,auto_churn_subscription,refund_handling,proximate_movement_reclassification"


def list_parameters(stream: str, config: Mapping[str, Any]) -> dict[str, str]:
    """What ChartMogul must be asked, beyond pagination, for `stream` to deliver every field its schema declares."""
    everything = config.get("include_disabled_and_invalid", True)
    return {
        "account": {"include": ACCOUNT_SETTINGS},
        "data_sources": {"with_processing_status": "true", "with_auto_churn_subscription_setting": "true",
                         "with_invoice_handling_setting": "true"},
        "invoices": {"include_edit_histories": "true", **({"with_disabled": "true", "validation_type": "all"} if everything else {})},
        "subscription_events": {"with_disabled": "true"} if everything else {},
    }.get(stream, {})


def metric_segment(config: Mapping[str, Any]) -> dict[str, str]:
    """The metrics settings as ChartMogul's parameters: the country codes in capitals, the items trimmed."""
    segment = {"filters": (config.get("metrics_filters") or "").strip(),
               "geo": (config.get("metrics_geo") or "").replace(" ", "").upper(),
               "plans": ",".join(item.strip() for item in (config.get("metrics_plans") or "").split(","))}
    return {name: value for name, value in segment.items() if value}


def ground_truth(emulator: Emulator, stream: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every record a correct sync of `stream` with `config` delivers, as the connector emits it."""
    if stream == "activities":
        records = emulator.truth("/v1/activities", {"start-date": config["start_date"], "end-date": config["end_date"]})
    elif stream in METRIC_ENDPOINTS:
        days = {"start-date": config["start_date"][:10], "end-date": config["end_date"][:10]}
        params = {**days, "interval": config.get("interval", "month"), **metric_segment(config)}
        records = emulator.truth(f"/v1/metrics/{METRIC_ENDPOINTS[stream]}", params)
    elif stream == "plan_group_plans":
        records = [
            {**plan, "plan_group_uuid": group["uuid"]}
            for group in emulator.truth("/v1/plan_groups")
            for plan in emulator.truth(f"/v1/plan_groups/{group['uuid']}/plans")
        ]
    elif stream == "customer_subscriptions":
        return [record for customer in emulator.truth("/v1/customers") for record in customer_subscriptions_of(emulator, customer["uuid"])]
    else:
        records = emulator.truth(f"/v1/{LIST_ENDPOINTS[stream]}", list_parameters(stream, config))
    return as_emitted(records)


def customer_subscriptions_of(emulator: Emulator, customer_uuid: str) -> list[dict[str, Any]]:
    """The customer_subscriptions records of one customer, as the connector emits them."""
    path = "/v1/" + CHILD_ENDPOINTS["customer_subscriptions"].format(uuid=customer_uuid)
    return as_emitted([{**subscription, "customer_uuid": customer_uuid} for subscription in emulator.truth(path)])


def as_emitted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CDK leaves out a record's top-level fields whose value is null when it writes the record message."""
    return [{key: value for key, value in record.items() if value is not None} for record in records]
