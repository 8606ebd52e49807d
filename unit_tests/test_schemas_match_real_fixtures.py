"""Every stream schema must accept every record of the real recorded ChartMogul responses, in strict mode.

Strict mode forces `additionalProperties: false` on every object level, so a field that the API sends but the schema
does not declare fails here, although the shipped schemas stay open (`additionalProperties: true`).
"""

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft7Validator, FormatChecker

from unit_tests.recorded_bodies import body_files, sources_table

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO_ROOT / "source_chartmogul" / "schemas"


@dataclass(frozen=True)
class FixtureSource:
    """Fixture files of one endpoint whose records have the stream's shape."""

    prefix: str
    # Key of the records array in the body; None when the body is one record (a single-object retrieve).
    records_key: str | None
    # The prefix answers both a list and a retrieve request: a body without records_key is one record.
    body_may_be_one_record: bool = False


@dataclass(frozen=True)
class AddedField:
    """A field the connector adds to every record, with its value taken from the recorded request path."""

    name: str
    request_pattern: str


@dataclass(frozen=True)
class StreamFixtures:
    sources: tuple[FixtureSource, ...]
    added_field: AddedField | None = None
    # Fields the connector adds to every record that no recorded request holds: a segment's name and definition.
    added_values: tuple[tuple[str, str], ...] = ()


# A segment stream's records: the whole-account metric's, with a segment's name and its definition as sent.
SEGMENT_VALUES = (("segment", "Europe in EUR"), ("filters", "currency~ANY~'EUR'"), ("geo", "DE,FR"), ("plans", ""))


STREAM_FIXTURES = {
    "customers": StreamFixtures(
        (
            FixtureSource("customers_list", "entries"),
            FixtureSource("customers_search", "entries"),
            FixtureSource("customers_retrieve", None),
        )
    ),
    "activities": StreamFixtures((FixtureSource("activities", "entries"),)),
    "customer_count": StreamFixtures((FixtureSource("metrics_customer_count", "entries"),)),
    "key_metrics": StreamFixtures((FixtureSource("metrics_all", "entries"),)),
    "mrr_metrics": StreamFixtures((FixtureSource("metrics_mrr", "entries"),)),
    "segment_customer_count": StreamFixtures((FixtureSource("metrics_customer_count", "entries"),), added_values=SEGMENT_VALUES),
    "segment_key_metrics": StreamFixtures((FixtureSource("metrics_all", "entries"),), added_values=SEGMENT_VALUES),
    "segment_mrr_metrics": StreamFixtures((FixtureSource("metrics_mrr", "entries"),), added_values=SEGMENT_VALUES),
    "plans": StreamFixtures((FixtureSource("plans", "plans"), FixtureSource("plans_retrieve", None))),
    "plan_groups": StreamFixtures(
        (FixtureSource("plan_groups", "plan_groups"), FixtureSource("plan_groups_retrieve", None))
    ),
    "plan_group_plans": StreamFixtures(
        (FixtureSource("plan_group_plans", "plans"),),
        AddedField("plan_group_uuid", r"^GET /v1/plan_groups/([^/?]+)/plans\b"),
    ),
    "invoices": StreamFixtures(
        (
            FixtureSource("invoices", "invoices"),
            FixtureSource("invoices_retrieve", None),
            FixtureSource("customer_invoices", "invoices"),
        )
    ),
    # Every recorded envelope (2022 `meta` only, Aug 2023 cursor inside `meta`, later top-level cursor) keeps the
    # records in the top-level `subscription_events` array, so one records key covers all of them.
    "subscription_events": StreamFixtures((FixtureSource("subscription_events", "subscription_events"),)),
    "data_sources": StreamFixtures(
        (FixtureSource("data_sources", "data_sources"), FixtureSource("data_sources_retrieve", None))
    ),
    "account": StreamFixtures((FixtureSource("account", None),)),
    "contacts": StreamFixtures((FixtureSource("contacts", "entries"), FixtureSource("contacts_retrieve", None))),
    "customer_notes": StreamFixtures(
        (
            FixtureSource("customer_notes", "entries"),
            FixtureSource("customer_notes_retrieve", None),
            FixtureSource("customer_notes_legacy_path", "entries", body_may_be_one_record=True),
        )
    ),
    "opportunities": StreamFixtures(
        (FixtureSource("opportunities", "entries"), FixtureSource("opportunities_retrieve", None))
    ),
    "tasks": StreamFixtures((FixtureSource("tasks", "entries"), FixtureSource("tasks_retrieve", None))),
    "customer_subscriptions": StreamFixtures(
        (FixtureSource("customer_subscriptions", "entries"),),
        AddedField("customer_uuid", r"^GET /v1/customers/([^/?]+)/subscriptions\b"),
    ),
}

# Fixture prefixes that no stream reads, and why; a prefix in neither map fails test_every_fixture_is_accounted_for.
NOT_A_STREAM = {
    "ping": "auth check endpoint, no records",
    "errors": "error bodies of write requests",
    "customer_attributes": "per-customer attributes endpoint; attributes are read as part of customers records",
    "customer_activities": "per-customer activity list with another record shape; activities reads /v1/activities",
    "import_customer_subscriptions": "deprecated Import API list; customer_subscriptions reads the Metrics API list",
    "activities_export_retrieve": "asynchronous export job status, not records",
    "metrics_arr": "single-metric endpoint without a stream (key_metrics carries arr)",
    "metrics_arpa": "single-metric endpoint without a stream (key_metrics carries arpa)",
    "metrics_asp": "single-metric endpoint without a stream (key_metrics carries asp)",
    "metrics_customer_churn_rate": "single-metric endpoint without a stream (key_metrics carries it)",
    "metrics_mrr_churn_rate": "single-metric endpoint without a stream (key_metrics carries it)",
    "metrics_ltv": "single-metric endpoint without a stream (key_metrics carries ltv)",
}

SOURCES_ROW = re.compile(r"^\| `(?P<file>[^`]+)` \| (?P<status>\d{3}) \| `(?P<request>[^`]+)` \|", re.MULTILINE)
RFC3339_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SCHEMA_NODE_KEYWORDS = {"$schema", "type", "format", "description", "additionalProperties", "properties", "items",
                        "x-brought-by-parameter"}  # the parameter that brings a field (test_declared_fields_are_asked_for)

# jsonschema only checks "date-time" when an optional package is installed; these checkers make the formats binding.
FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_rfc3339_date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value)
    return bool(RFC3339_DATE_TIME.match(value))


@FORMAT_CHECKER.checks("date", raises=ValueError)
def is_iso_date(value) -> bool:
    if not isinstance(value, str):
        return True
    date.fromisoformat(value)
    return bool(ISO_DATE.match(value))


@dataclass(frozen=True)
class RecordedResponse:
    status: int
    request: str


@pytest.fixture(scope="module")
def recorded_responses() -> dict[str, RecordedResponse]:
    rows = SOURCES_ROW.finditer(sources_table())
    return {row["file"]: RecordedResponse(int(row["status"]), row["request"]) for row in rows}


def fixture_prefix(file: Path) -> str:
    return file.stem.rsplit("__", 1)[0]


def fixture_files() -> list[Path]:
    return sorted(body_files(), key=lambda path: (fixture_prefix(path), int(path.stem.rsplit("__", 1)[1])))


def load_schema(stream: str) -> dict:
    return json.loads((SCHEMAS_DIR / f"{stream}.json").read_text(encoding="utf-8"))


def schema_types(node: dict) -> list[str]:
    types = node.get("type", [])
    return [types] if isinstance(types, str) else types


def strict_copy(node: dict) -> dict:
    """The schema with every declared object closed. An object without `properties` is a free-form map whose
    keys vary by account (custom attributes), so it stays open."""
    copy = dict(node)
    if "object" in schema_types(node) and "properties" in node:
        copy["additionalProperties"] = False
    if "properties" in node:
        copy["properties"] = {name: strict_copy(child) for name, child in node["properties"].items()}
    if "items" in node:
        copy["items"] = strict_copy(node["items"])
    return copy


def stream_records(
    stream: str, recorded_responses: dict[str, RecordedResponse]
) -> list[tuple[str, int, dict]]:
    """(fixture file name, index in that body, record as the connector would emit it) for every 200 body."""
    plan = STREAM_FIXTURES[stream]
    sources = {source.prefix: source for source in plan.sources}
    records = []
    for file in fixture_files():
        source = sources.get(fixture_prefix(file))
        if source is None:
            continue
        response = recorded_responses.get(file.name)
        assert response is not None, f"{file.name} has no row in SOURCES.md, so its HTTP status is unknown"
        if response.status != 200:
            continue
        body = json.loads(file.read_text(encoding="utf-8"))
        if source.records_key is None or (source.body_may_be_one_record and source.records_key not in body):
            body_records = [body]
        else:
            assert source.records_key in body, f"{file.name}: no '{source.records_key}' array in the body"
            body_records = body[source.records_key]
        if plan.added_field:
            match = re.match(plan.added_field.request_pattern, response.request)
            assert match, f"{file.name}: cannot read {plan.added_field.name} from request {response.request!r}"
            body_records = [{**record, plan.added_field.name: match.group(1)} for record in body_records]
        body_records = [{**record, **dict(plan.added_values)} for record in body_records]
        records.extend((file.name, index, record) for index, record in enumerate(body_records))
    return records


def json_path(path) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


@pytest.mark.parametrize("stream", sorted(STREAM_FIXTURES))
def test_every_fixture_record_matches_the_strict_schema(stream, recorded_responses):
    records = stream_records(stream, recorded_responses)
    assert records, f"{stream}: no fixture record found, the schema check would pass vacuously"
    validator = Draft7Validator(strict_copy(load_schema(stream)), format_checker=FORMAT_CHECKER)
    failures = [
        f"{file} record {index} at {json_path(error.absolute_path)}: {error.message}"
        for file, index, record in records
        for error in validator.iter_errors(record)
    ]
    assert not failures, f"{stream}: {len(failures)} schema violation(s):\n" + "\n".join(failures)


def test_every_fixture_is_accounted_for(recorded_responses):
    stream_prefixes = {source.prefix for plan in STREAM_FIXTURES.values() for source in plan.sources}
    assert not stream_prefixes & NOT_A_STREAM.keys(), "a prefix is both read by a stream and listed as not-a-stream"
    files = fixture_files()
    unaccounted = sorted(
        file.name for file in files if fixture_prefix(file) not in stream_prefixes | NOT_A_STREAM.keys()
    )
    assert not unaccounted, (
        f"fixtures used by no stream and not listed in NOT_A_STREAM: {unaccounted}; "
        "map their prefix to a stream in STREAM_FIXTURES or explain it in NOT_A_STREAM"
    )
    without_status = sorted(file.name for file in files if file.name not in recorded_responses)
    assert not without_status, f"fixtures without a SOURCES.md row (unknown HTTP status): {without_status}"
    present_prefixes = {fixture_prefix(file) for file in files}
    stale = sorted((stream_prefixes | NOT_A_STREAM.keys()) - present_prefixes)
    assert not stale, f"prefixes listed here but with no fixture file: {stale}"


def test_there_is_one_schema_file_per_stream():
    assert sorted(path.stem for path in SCHEMAS_DIR.glob("*.json")) == sorted(STREAM_FIXTURES)


def convention_violations(node: dict, path: str) -> list[str]:
    violations = [f"{path}: unexpected keyword {key!r}" for key in node.keys() - SCHEMA_NODE_KEYWORDS]
    if path != "$" and not node.get("description"):
        violations.append(f"{path}: no description")
    if "format" in node and "string" not in schema_types(node):
        violations.append(f"{path}: format on a non-string type")
    if "object" in schema_types(node):
        if node.get("additionalProperties") is not True:
            violations.append(f"{path}: additionalProperties must be true")
        if "properties" not in node and "vary by account" not in node.get("description", ""):
            violations.append(f"{path}: object without properties that does not say its keys vary by account")
    for name, child in node.get("properties", {}).items():
        violations.extend(convention_violations(child, f"{path}.{name}"))
    if "items" in node:
        violations.extend(convention_violations(node["items"], f"{path}[]"))
    return violations


@pytest.mark.parametrize("stream", sorted(STREAM_FIXTURES))
def test_schema_follows_the_connector_conventions(stream):
    schema = load_schema(stream)
    Draft7Validator.check_schema(schema)
    assert list(schema)[:4] == ["$schema", "type", "additionalProperties", "properties"]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["type"] == "object"
    violations = convention_violations(schema, "$")
    assert not violations, f"{stream}:\n" + "\n".join(violations)
