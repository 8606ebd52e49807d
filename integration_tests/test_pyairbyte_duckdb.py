"""The main job (scripts/sync.py): PyAirbyte syncs every stream from the emulator into DuckDB, then reports MRR."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from chartmogul_emulator import Emulator
from integration_tests.connector_cli import ROOT, STREAM_NAMES
from chartmogul_emulator.stream_truth import ground_truth

CUSTOMERS, ACTIVITIES = 150, 1_500


def test_sync_into_duckdb_holds_exactly_the_emulators_rows_and_reports_mrr(tmp_path: Path) -> None:
    db_path, chart = tmp_path / "chartmogul.duckdb", tmp_path / "mrr.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync.py"), "--customers", str(CUSTOMERS), "--activities", str(ACTIVITIES),
         "--duckdb", str(db_path), "--chart", str(chart)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Could not determine airbyte type" not in result.stdout

    # The script's account: the emulator is deterministic, so the same seed and sizes give the same records.
    with Emulator(seed=7, customers=CUSTOMERS, activities=ACTIVITIES) as emulator:
        config = {"start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "interval": "month",
                  "metrics_by_plan": True}
        expected = {stream: len(ground_truth(emulator, stream, config)) for stream in STREAM_NAMES}
        final_mrr = emulator.truth("/v1/metrics/mrr", {"start-date": "2019-01-01", "end-date": "2025-12-31", "interval": "month"})[-1]["mrr"]
    with duckdb.connect(str(db_path), read_only=True) as db:
        rows = {stream: db.execute(f'select count(*) from "{stream}"').fetchone()[0] for stream in STREAM_NAMES}
        distinct_activities = db.execute("select count(distinct uuid) from activities").fetchone()[0]
    assert rows == expected
    assert distinct_activities == ACTIVITIES

    assert "0 answered 429, 0 answered 503." in result.stdout
    last_month = next(line for line in result.stdout.splitlines() if line.startswith("2025-12 "))  # the MRR table's last row
    assert last_month.split()[1] == f"{final_mrr / 100:,.0f}"
    assert rows["segment_mrr_metrics"] == len(emulator.account.plans) * rows["mrr_metrics"] > 0  # MRR by plan
    assert f"equal to the account's MRR of 2025-12, {final_mrr / 100:,.0f}" in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
