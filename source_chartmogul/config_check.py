"""One clear line for a bad config.

The CDK validates the config against the spec as well, but it reports raw jsonschema text
("'2017-01' does not match '^[0-9]{4}-...'") that names neither the setting nor the fix. The rules
stay in the manifest's spec; this module only words their failures (every mistake in metrics_segments, one line
each), and adds the cross-field rules that JSON schema cannot state (end_date after start_date, segment names unique).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

# Keys the Airbyte tooling may add to a config: `_limit`/`_page_size` (CDK internal config),
# `__...` (Connector Builder).
_INTERNAL_KEY_PREFIXES = ("_",)

_DATE_TIME = "%Y-%m-%dT%H:%M:%SZ"  # start_date and end_date, as the spec's pattern says
_JSON_TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object", type(None): "null"}


def config_problem(config: Mapping[str, Any], spec: Mapping[str, Any]) -> Optional[str]:
    """The first problem with `config`, as one line naming the setting and the fix; None if it is valid."""
    if not isinstance(config, Mapping):
        return "The config must be a JSON object of settings such as {\"api_key\": ..., \"start_date\": ...}."
    properties = spec.get("properties", {})
    errors = sorted(
        Draft7Validator(spec).iter_errors(config),
        key=lambda error: properties.get(_setting_name(error), {}).get("order", len(properties)),
    )
    if not errors or _setting_name(errors[0]) == SEGMENTS:  # every mistake in the segments, one line each
        segments = config.get(SEGMENTS) or []
        mistakes = sorted((error for error in errors if _setting_name(error) == SEGMENTS), key=lambda e: [*e.path][1:2])
        problems = [_segment_problem(error, segments, properties) for error in mistakes]
        problems += _repeated_segment_names(segments) if isinstance(segments, list) else []
        if problems:
            return "\n".join(problems)
    if errors:
        return _describe(errors[0], properties)
    unknown = sorted(key for key in config if key not in properties and not key.startswith(_INTERNAL_KEY_PREFIXES))
    if unknown:
        return (
            f"Unknown setting {unknown[0]!r}: remove it or correct its name "
            f"(the settings are {', '.join(sorted(properties))})."
        )
    for name in ("start_date", "end_date"):  # the pattern admits a 13th month or a 31st of February
        value = config.get(name)
        if value and not _is_calendar_date_time(value):
            return f"{name} {value!r} is not a real date and time: use yyyy-mm-ddThh:mm:ssZ (for example 2017-01-25T06:30:00Z)."
    start, end = config.get("start_date"), config.get("end_date")
    if start and end and end < start:  # same fixed-width UTC format, so text order is time order
        return f"end_date {end} is before start_date {start}: set end_date after start_date, or leave it out to read up to now."
    if start and start > datetime.now(timezone.utc).strftime(_DATE_TIME):  # the CDK's cursor would read nothing, silently
        return (f"start_date {start} is in the future: activities and metrics would read nothing; set start_date to a"
                " past date-time (for example 2017-01-25T06:30:00Z).")
    return None


def _setting_name(error: ValidationError) -> str:
    if error.validator == "required" and not error.path:
        return error.message.split("'")[1]
    return str(error.path[0]) if error.path else ""


def _describe(error: ValidationError, properties: Mapping[str, Any]) -> str:
    name = _setting_name(error)
    schema = properties.get(name, {})
    shown = "(hidden)" if schema.get("airbyte_secret") else repr(error.instance)
    if error.validator == "required":
        return f"Missing setting {name}: {schema.get('description', 'it is required').strip()}"
    if error.validator == "type" and schema.get("type") == "integer" and type(error.instance) is float:
        return f"{name} must be a whole number, not {error.instance!r}."
    if error.validator in ("minimum", "maximum"):
        kind = "a whole number" if schema.get("type") == "integer" else "a number"
        return f"{name} {shown} is out of range: use {kind} from {schema.get('minimum')} to {schema.get('maximum')}."
    if error.validator == "type":
        return f"{name} must be {_JSON_TYPE_NAMES.get(type(_example(schema)), 'a ' + str(schema.get('type')))}, not {_JSON_TYPE_NAMES.get(type(error.instance), 'that')}."
    if error.validator == "enum":
        return f"{name} {shown} is not one of {', '.join(map(str, schema['enum']))}: pick one of those."
    if error.validator == "minLength":
        return f"{name} is empty: {schema.get('description', 'give it a value').strip()}"
    if error.validator == "pattern" and schema.get("airbyte_secret"):  # never shown: say where the whitespace is
        if not error.instance.strip():
            return f"{name} is blank (only spaces, tabs or line breaks): {schema.get('description', 'give it a value').strip()}"
        return f"{name} has a space, tab or line break {_where_whitespace(error.instance)}: {schema['pattern_descriptor']}."
    if error.validator == "pattern" and name == "base_url" and _has_a_path(error.instance, schema["pattern"]):
        return (f"base_url {error.instance!r} has {'a path' if urlsplit(error.instance).path.strip('/') else 'a query'}:"
                f" give the scheme and host only, for example"
                f" {_without_path(error.instance)} (the connector adds /v1/ itself).")
    if error.validator == "pattern" and name in _LIST_SETTINGS:
        return _list_problem(name, error.instance, schema)
    if error.validator == "pattern":
        example = _example(schema)
        hint = f" (for example {example})" if example and not schema.get("airbyte_secret") else ""
        return f"{name} {shown} is not valid: use {schema.get('pattern_descriptor', 'the documented format')}{hint}."
    return f"{name} {shown} is not valid: {schema.get('description', error.message).strip()}"


# Comma-separated settings (their spec pattern is the same rule, for the UI): what one item must be, and what
# leaving the setting out means.
_LIST_SETTINGS = {
    "metrics_geo": (re.compile(r"[A-Za-z]{2}"), "a two-letter ISO 3166-1 country code", "every country"),
    "metrics_plans": (re.compile(r".+"), "a plan name or uuid", "every plan"),
}


def _list_problem(name: str, value: str, schema: Mapping[str, Any], setting: str = "") -> str:
    """The item of a comma-separated setting (or of a segment's field of that `setting`) that breaks its pattern, named."""
    item_pattern, item_rule, when_left_out = _LIST_SETTINGS[setting or name]
    fix = f"use {schema['pattern_descriptor']} (for example {_example(schema)}), or leave it out for {when_left_out}"
    items = [item.strip() for item in value.split(",")]
    wrong = next((item for item in items if not item_pattern.fullmatch(item)), "")
    if not wrong:
        return f"{name} {value!r} has an empty item: {fix}."
    return f"{name} {value!r} lists {wrong!r}, which is not {item_rule}: {fix}."


SEGMENTS = "metrics_segments"  # a segment's filters, geo and plans follow the rules of metrics_filters, _geo and _plans


def _segment_problem(error: ValidationError, segments: Any, properties: Mapping[str, Any]) -> str:
    """One mistake in metrics_segments, as one line naming the segment (by its place, and its name if it has one)."""
    if len(error.path) < 2:  # not a list at all
        return _describe(error, properties)
    index = error.path[1]
    segment = segments[index]
    name = segment.get("name") if isinstance(segment, Mapping) else None
    where = f"{SEGMENTS} segment {index + 1}" + (f" ({name!r})" if isinstance(name, str) and name.strip() else "")
    item = properties[SEGMENTS]["items"]
    if len(error.path) == 2:
        if error.validator == "required":
            return f"{where} has no name: give each segment a name, unique among the segments."
        if error.validator == "anyOf":
            return (f"{where} is empty: give it filters, geo or plans, or remove it (the whole account is what"
                    " customer_count, key_metrics and mrr_metrics read).")
        if error.validator == "additionalProperties":
            extra = sorted(set(segment) - set(item["properties"]))
            return f"{where} has {', '.join(map(repr, extra))}: a segment has only name, filters, geo and plans."
        return f"{where} must be an object such as {json.dumps(_example(properties[SEGMENTS])[0])}."
    field = str(error.path[2])
    schema = item["properties"][field]
    if error.validator == "type":
        return f"{where} {field} must be a string, not {_JSON_TYPE_NAMES.get(type(error.instance), 'that')}."
    if field in ("geo", "plans"):
        return f"{where} " + _list_problem(field, error.instance, schema, f"metrics_{field}")
    return (f"{where} {field} {error.instance!r} is not valid: use {schema['pattern_descriptor']}"
            f" (for example {_example(schema)}).")


def _repeated_segment_names(segments: Iterable[Any]) -> list[str]:
    """One line per name that more than one segment has: the name tells a segment's records from another's."""
    places: dict[str, list[int]] = {}
    for index, segment in enumerate(segments):
        name = segment.get("name") if isinstance(segment, Mapping) else None
        if isinstance(name, str):
            places.setdefault(name, []).append(index + 1)
    return [f"{SEGMENTS} segments {', '.join(map(str, found[:-1]))} and {found[-1]} are named {name!r}: give each"
            f" segment a name of its own." for name, found in places.items() if len(found) > 1]


def _where_whitespace(value: str) -> str:
    ends = [end for end, char in (("start", value[0]), ("end", value[-1])) if char.isspace()]
    return f"at its {' and '.join(ends)}" if ends else "inside it"


def _without_path(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}"


def _has_a_path(url: str, pattern: str) -> bool:
    """Whether `url` breaks the base_url pattern only by its path (or query): the rest is a base_url the spec admits."""
    return bool(urlsplit(url.strip()).path.strip("/") or urlsplit(url).query) and re.search(pattern, _without_path(url)) is not None


def _example(schema: Mapping[str, Any]) -> Any:
    examples = schema.get("examples") or [schema.get("default")]
    return examples[0] if examples[0] is not None else ""


def _is_calendar_date_time(value: str) -> bool:
    try:
        datetime.strptime(value, _DATE_TIME)
    except ValueError:
        return False
    return True
