"""The main job: a real sync of every stream through the connector's CLI, then a count of what each stream delivered.

Without --config it runs against the local ChartMogul emulator (a synthetic account); with --config it reads the
account of that config's API key.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the emulator package lives in the repository, not in the connector's wheel

from chartmogul_emulator import Emulator  # noqa: E402

EMULATOR_KEY = "sk_emulator_demo_4d9f2b7c1e8a"


def connector(command: str, *args: str) -> list[dict[str, Any]]:
    """Run `source-chartmogul <command>`; its Airbyte messages."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "source-chartmogul"), command, *args], capture_output=True, text=True
    )
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [m["trace"]["error"]["message"] for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    if result.returncode != 0 or errors:
        sys.exit(f"source-chartmogul {command} failed: {errors[0] if errors else result.stderr.strip()[-500:]}")
    return messages


@contextlib.contextmanager
def account(config_path: str | None) -> Iterator[dict[str, Any]]:
    """The config to sync with: the user's, or one pointing at a freshly started emulator."""
    if config_path:
        yield json.loads(Path(config_path).read_text())
        return
    with Emulator(seed=7, customers=2_000, activities=20_000, api_key=EMULATOR_KEY) as emulator:
        print(f"ChartMogul emulator at {emulator.url} (seed 7, 2,000 customers, 20,000 activities)")
        yield {"api_key": EMULATOR_KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z",
               "interval": "month", "base_url": emulator.url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", help="a config.json with a real ChartMogul API key; default: the local emulator")
    options = parser.parse_args()

    with account(options.config) as config, tempfile.TemporaryDirectory() as work:
        config_file = Path(work) / "config.json"
        config_file.write_text(json.dumps(config))
        status = next(m["connectionStatus"] for m in connector("check", "--config", str(config_file)) if m["type"] == "CONNECTION_STATUS")
        if status["status"] != "SUCCEEDED":
            sys.exit(f"check failed: {status.get('message')}")
        catalog = next(m["catalog"] for m in connector("discover", "--config", str(config_file)) if m["type"] == "CATALOG")
        configured = {"streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for stream in catalog["streams"]
        ]}
        catalog_file = Path(work) / "catalog.json"
        catalog_file.write_text(json.dumps(configured))

        started = time.monotonic()
        messages = connector("read", "--config", str(config_file), "--catalog", str(catalog_file))
        elapsed = time.monotonic() - started

    counts = Counter(m["record"]["stream"] for m in messages if m["type"] == "RECORD")
    width = max(len(stream["name"]) for stream in catalog["streams"])
    print(f"\n{'stream':<{width}}  records")
    for stream in catalog["streams"]:
        print(f"{stream['name']:<{width}}  {counts[stream['name']]:>7,}")
    print(f"{'total':<{width}}  {sum(counts.values()):>7,}   in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
