"""Start-up (startup.py): the CDK imported without reading the protocol classes' docstrings writes the same messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"api_key": "sk_startup_test_0000", "start_date": "2021-01-01T00:00:00Z", "base_url": "http://127.0.0.1:9"}

# Prints what a sync writes (spec, the catalog, a record, a state with a private key, an error trace), which docstring
# reader serpyco-rs is left with, and the protocol's JSON schema. argv[1] "plain": the CDK imported first, as usual.
WRITER = """
import sys
if sys.argv[1] == "plain":
    import airbyte_cdk.models
from source_chartmogul.run import run
from airbyte_cdk.models import AirbyteMessageSerializer
import orjson, serpyco_rs._describe, serpyco_rs._json_schema._convert
run(["spec"])
run(["discover", "--config", sys.argv[2]])
for message in (
    {"type": "RECORD", "record": {"stream": "activities", "data": {"uuid": "a", "activity-mrr": 19900, "date": None}, "emitted_at": 1}},
    {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "activities"},
     "stream_state": {"date": "2025-01-01T00:00:00Z", "__ab_no_cursor_state_message": True}}, "sourceStats": {"recordCount": 2.0}}},
    {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 2.0, "error": {"message": "m", "failure_type": "config_error"}}},
):
    print(orjson.dumps(AirbyteMessageSerializer.dump(AirbyteMessageSerializer.load(message))).decode())
print(serpyco_rs._describe.get_attributes_doc.__module__, serpyco_rs._json_schema._convert.get_attributes_doc.__module__)
print(orjson.dumps(AirbyteMessageSerializer.get_json_schema()).decode())
"""


def written(tmp_path: Path, how: str) -> list[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    done = subprocess.run([sys.executable, "-c", WRITER, how, str(config)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_connector_imported_without_protocol_docstrings_writes_what_the_plain_cdk_writes(tmp_path: Path) -> None:
    ours, plain = written(tmp_path, "ours"), written(tmp_path, "plain")
    assert ours == plain  # the JSON schema too: the protocol classes have no attribute docstrings to read
    messages = {json.loads(line)["type"]: line for line in ours[:-2]}
    assert set(messages) == {"SPEC", "LOG", "CATALOG", "RECORD", "STATE", "TRACE"}
    assert '"__ab_no_cursor_state_message":true' in messages["STATE"]  # the state blob's private keys survive
    assert ours[-2] == "attributes_doc._base attributes_doc._base"  # serpyco-rs's reader is back for anything later
