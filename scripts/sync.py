"""The main job: sync every ChartMogul stream into a local DuckDB file through PyAirbyte, then report monthly MRR.

Without --config it runs against the local ChartMogul emulator (a synthetic account it starts and stops); with
--config it reads the account of that config's API key. It prints the rows each stream delivered, a monthly MRR
table with its movements, the MRR of each segment (on the emulator: of each plan, with metrics_by_plan), and writes an
MRR chart (PNG).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")  # the connector is this repository's: no registry look-ups
os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.filterwarnings("ignore", category=FutureWarning)  # Google client libraries' notices about Python versions

import airbyte as ab  # noqa: E402
import airbyte.types  # noqa: E402

# PyAirbyte prints a notice for every union-typed column (ChartMogul sends e.g. "" or an integer for a subscription
# event's quantity) and stores such columns as text. Only those notices are printed from that module.
airbyte.types.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the emulator lives in this repository, not in the connector's package
from chartmogul_emulator import (  # noqa: E402
    CHARTMOGUL_PARALLEL_CONNECTIONS, CHARTMOGUL_REQUESTS_PER_SECOND, Emulator, no_collector_pauses,
)

CONNECTOR = Path(sys.executable).parent / "source-chartmogul"
EMULATOR_KEY = "sk_emulator_demo_4d9f2b7c1e8a"
MOVEMENTS = ["mrr_new_business", "mrr_expansion", "mrr_contraction", "mrr_churn", "mrr_reactivation"]
CHARTED_SEGMENTS = 8  # the largest segments by last MRR have a band of their own in the chart; the rest share one


@contextlib.contextmanager
def chartmogul_config(config_path: str | None, customers: int, activities: int) -> Iterator[dict[str, Any]]:
    """The user's config, or one for a freshly started emulator (stopped on exit)."""
    if config_path:
        yield json.loads(Path(config_path).read_text())
        return
    # ChartMogul's own limits.
    # The emulator shares this process with PyAirbyte: its clock must not stop for a collection of their heap.
    with Emulator(seed=7, customers=customers, activities=activities, api_key=EMULATOR_KEY,
                  rate_limit=CHARTMOGUL_REQUESTS_PER_SECOND, max_connections=CHARTMOGUL_PARALLEL_CONNECTIONS) as emulator, \
            no_collector_pauses():
        print(f"ChartMogul emulator at {emulator.url}: {customers:,} customers, {activities:,} activities (seed 7)")
        yield {"api_key": EMULATOR_KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z",
               "interval": "month", "base_url": emulator.url, "metrics_by_plan": True}
        stats = emulator.stats()
        print(
            f"The emulator served {stats['total_requests']:,} requests, at most {stats['peak_requests_per_second']} in a second"
            f" and {stats['peak_in_flight']} at once; {stats['rate_limited_429']} answered 429, {stats['connection_limited_503']} answered 503."
        )


def sync(config: dict[str, Any], cache: ab.DuckDBCache, streams: list[str] | None = None) -> dict[str, int]:
    """Read the streams into the DuckDB cache (PyAirbyte shows its progress while it runs); rows per stream."""
    source = ab.get_source("source-chartmogul", config=config, local_executable=str(CONNECTOR))
    source.check()
    source.select_streams(streams) if streams else source.select_all_streams()
    result = source.read(cache=cache)
    return {stream: len(result[stream]) for stream in source.get_selected_streams()}


def monthly_mrr(cache: ab.DuckDBCache) -> list[tuple]:
    """Month-end MRR and its movements, in currency units, from the synced mrr_metrics table (interval month)."""
    columns = ", ".join(f"{name} / 100 as {name}" for name in ["mrr", *MOVEMENTS])
    rows = cache.run_sql_query(f"select strftime(cast(date as date), '%Y-%m') as month, {columns} from mrr_metrics order by date")
    return [(row["month"], *(row[name] for name in ["mrr", *MOVEMENTS])) for row in rows]


def monthly_mrr_by_segment(cache: ab.DuckDBCache) -> dict[str, dict[str, float]]:
    """Month-end MRR of each segment, in currency units, from the synced segment_mrr_metrics table: segment -> month
    -> MRR, the segments largest last first."""
    rows = cache.run_sql_query("select segment, strftime(cast(date as date), '%Y-%m') as month, mrr / 100 as mrr"
                               " from segment_mrr_metrics order by date")
    by_segment: dict[str, dict[str, float]] = {}
    for row in rows:
        by_segment.setdefault(row["segment"], {})[row["month"]] = row["mrr"]
    return dict(sorted(by_segment.items(), key=lambda item: -list(item[1].values())[-1]))


def print_segments(by_segment: dict[str, dict[str, float]], mrr: list[tuple]) -> None:
    """Each segment's last month-end MRR, its share of the account's and its change over a year; then whether the
    segments add up to the account (they do when they partition it, as the plans do)."""
    whole = {row[0]: row[1] for row in mrr}
    last = mrr[-1][0]
    year_before = mrr[-13][0] if len(mrr) > 12 else mrr[0][0]
    width = max(len("segment"), *map(len, by_segment))
    print(f"\n{'segment':<{width}} {'MRR ' + last:>14} {'share':>7} {'MRR ' + year_before:>14} {'change':>8}")
    for segment, months in by_segment.items():
        now, before = months.get(last, 0), months.get(year_before, 0)
        change = f"{100 * (now - before) / before:+.1f}%" if before else "new"
        print(f"{segment:<{width}} {now:>14,.0f} {100 * now / whole[last] if whole[last] else 0:>6.1f}% {before:>14,.0f} {change:>8}")
    total = sum(months.get(last, 0) for months in by_segment.values())
    verdict = "equal to" if round(total, 2) == round(whole[last], 2) else "not equal to (the segments overlap or leave customers out)"
    print(f"{'sum':<{width}} {total:>14,.0f}: {verdict} the account's MRR of {last}, {whole[last]:,.0f}")


def print_table(rows_per_stream: dict[str, int], mrr: list[tuple]) -> None:
    width = max(map(len, rows_per_stream))
    print(f"\n{'stream':<{width}}  rows")
    for stream, rows in rows_per_stream.items():
        print(f"{stream:<{width}}  {rows:>7,}")
    print(f"\n{'month':<8} {'MRR':>12} {'new biz':>10} {'expansion':>10} {'contract.':>10} {'churn':>10} {'reactiv.':>10}")
    for month, *values in mrr[-12:]:
        print(f"{month:<8} " + " ".join(f"{value:>{12 if i == 0 else 10},.0f}" for i, value in enumerate(values)))


def write_chart(mrr: list[tuple], by_segment: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen: render straight to the file
    from matplotlib import pyplot

    months = [row[0] for row in mrr]
    figure, axes = pyplot.subplots(2 if by_segment else 1, 1, figsize=(12, 11 if by_segment else 6), squeeze=False)
    axis = axes[0][0]
    positive_base = [0.0] * len(mrr)
    negative_base = [0.0] * len(mrr)
    for index, name in enumerate(MOVEMENTS, start=2):
        values = [row[index] for row in mrr]
        bases = [positive_base[i] if v >= 0 else negative_base[i] for i, v in enumerate(values)]
        axis.bar(months, values, bottom=bases, label=name.removeprefix("mrr_").replace("_", " "))
        for i, value in enumerate(values):
            (positive_base if value >= 0 else negative_base)[i] += value
    line_axis = axis.twinx()
    line_axis.plot(months, [row[1] for row in mrr], color="black", linewidth=2, label="MRR")
    axis.set_title("Monthly MRR and its movements")
    axis.set_ylabel("movement")
    line_axis.set_ylabel("MRR")
    axis.set_xticks(months[:: max(1, len(months) // 12)])
    axis.tick_params(axis="x", rotation=45)
    axis.legend(loc="upper left")
    line_axis.legend(loc="upper right")
    if by_segment:
        chart_segments(axes[1][0], months, by_segment)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def chart_segments(axis: Any, months: list[str], by_segment: dict[str, dict[str, float]]) -> None:
    """Month-end MRR stacked by segment: the largest CHARTED_SEGMENTS, then the others together."""
    names = list(by_segment)
    bands = {name: [by_segment[name].get(month, 0) for month in months] for name in names[:CHARTED_SEGMENTS]}
    if len(names) > CHARTED_SEGMENTS:
        others = names[CHARTED_SEGMENTS:]
        bands[f"{len(others)} others"] = [sum(by_segment[name].get(month, 0) for name in others) for month in months]
    axis.stackplot(months, *bands.values(), labels=list(bands))
    axis.set_title("Month-end MRR by segment (segment_mrr_metrics)")
    axis.set_ylabel("MRR")
    axis.set_xticks(months[:: max(1, len(months) // 12)])
    axis.tick_params(axis="x", rotation=45)
    axis.legend(loc="upper left", fontsize="small", ncol=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a config.json with a real ChartMogul API key; default: the local emulator")
    parser.add_argument("--duckdb", type=Path, help="the DuckDB file to sync into (default: .data/<account>.duckdb)")
    parser.add_argument("--chart", type=Path, help="where to write the MRR chart (default: beside the DuckDB file)")
    parser.add_argument("--streams", help="comma-separated streams to sync (default: all)")
    parser.add_argument("--customers", type=int, default=2_000, help="emulator account size (without --config)")
    parser.add_argument("--activities", type=int, default=20_000, help="emulator account size (without --config)")
    options = parser.parse_args()

    db_path = options.duckdb or ROOT / ".data" / ("chartmogul.duckdb" if options.config else "emulator.duckdb")
    chart_path = options.chart or db_path.with_name(db_path.stem + "-mrr.png")
    streams = options.streams.split(",") if options.streams else None
    db_path.parent.mkdir(parents=True, exist_ok=True)
    cache = ab.DuckDBCache(db_path=db_path)
    with chartmogul_config(options.config, options.customers, options.activities) as config:
        rows_per_stream = sync(config, cache, streams)
        monthly = config.get("interval", "month") == "month" and "mrr_metrics" in rows_per_stream
        segmented = monthly and rows_per_stream.get("segment_mrr_metrics", 0) > 0
    mrr = monthly_mrr(cache) if monthly else []
    by_segment = monthly_mrr_by_segment(cache) if segmented else {}
    print_table(rows_per_stream, mrr)
    if by_segment:
        print_segments(by_segment, mrr)
    print(f"\nDuckDB: {db_path}")
    if mrr:
        write_chart(mrr, by_segment, chart_path)
        print(f"MRR chart: {chart_path}")
    else:
        print("No monthly MRR report: sync mrr_metrics with interval month for it.")


if __name__ == "__main__":
    main()
