"""The emulator's ground truth of each of the connector's 20 streams: every record a complete, correct read of the
stream delivers, as the connector emits it; and the endpoint each stream reads, as the emulator counts its requests.
The integration tests compare syncs with it, and `make bench` counts the records it expects with it."""

from __future__ import annotations

from typing import Any, Mapping


METRIC_ENDPOINTS = {"customer_count": "customer-count", "key_metrics": "all", "mrr_metrics": "mrr"}
# Each segment stream and the whole-account stream of the same series.
SEGMENT_STREAMS = {"segment_customer_count": "customer_count", "segment_key_metrics": "key_metrics",
                   "segment_mrr_metrics": "mrr_metrics"}
LIST_ENDPOINTS = {
    "customers": "customers", "plans": "plans", "plan_groups": "plan_groups", "invoices": "invoices",
    "subscription_events": "subscription_events", "data_sources": "data_sources", "account": "account",
    "contacts": "contacts", "customer_notes": "customer_notes", "opportunities": "opportunities", "tasks": "tasks",
}


# The children's endpoints, under /v1/ and with their parent's uuid in braces (the emulator's request counters' keys).
CHILD_ENDPOINTS = {"plan_group_plans": "plan_groups/{uuid}/plans", "customer_subscriptions": "customers/{uuid}/subscriptions"}


def endpoint_template(stream: str) -> str:
    """The path of the endpoint `stream` reads, as the emulator's statistics count its requests."""
    if stream in METRIC_ENDPOINTS or stream in SEGMENT_STREAMS:
        return f"/v1/metrics/{METRIC_ENDPOINTS[SEGMENT_STREAMS.get(stream, stream)]}"
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


def segments(emulator: Any, config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each segment a sync reads, by name, with its definition as sent: those of metrics_segments, then, with
    metrics_by_plan, one per plan name of the account that no segment of metrics_segments has."""
    found = {entry["name"]: metric_segment({f"metrics_{key}": value for key, value in entry.items()})
             for entry in config.get("metrics_segments") or []}
    for plan in emulator.truth("/v1/plans") if config.get("metrics_by_plan") else []:
        found.setdefault(plan["name"], {"plans": plan["name"]})
    return found


def metric_series(emulator: Any, stream: str, config: Mapping[str, Any], segment: Mapping[str, str]) -> list[dict[str, Any]]:
    """The entries of the whole-account metric stream `stream`'s series for the config's dates and one segment."""
    days = {"start-date": config["start_date"][:10], "end-date": config["end_date"][:10]}
    return emulator.truth(f"/v1/metrics/{METRIC_ENDPOINTS[stream]}", {**days, "interval": config.get("interval", "month"), **segment})


def ground_truth(emulator: Any, stream: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every record a correct sync of `stream` with `config` delivers, as the connector emits it."""
    if stream == "activities":
        records = emulator.truth("/v1/activities", {"start-date": config["start_date"], "end-date": config["end_date"]})
    elif stream in METRIC_ENDPOINTS:
        records = metric_series(emulator, stream, config, metric_segment(config))
    elif stream in SEGMENT_STREAMS:
        records = [{**entry, "segment": name, **{key: sent.get(key, "") for key in ("filters", "geo", "plans")}}
                   for name, sent in segments(emulator, config).items()
                   for entry in metric_series(emulator, SEGMENT_STREAMS[stream], config, sent)]
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


def customer_subscriptions_of(emulator: Any, customer_uuid: str) -> list[dict[str, Any]]:
    """The customer_subscriptions records of one customer, as the connector emits them."""
    path = "/v1/" + CHILD_ENDPOINTS["customer_subscriptions"].format(uuid=customer_uuid)
    return as_emitted([{**subscription, "customer_uuid": customer_uuid} for subscription in emulator.truth(path)])


def as_emitted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CDK leaves out a record's top-level fields whose value is null when it writes the record message."""
    return [{key: value for key, value in record.items() if value is not None} for record in records]
