"""``python -m chartmogul_emulator`` on a bare interpreter: prints its URL, writes --url-file, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .client import Client

REPO = Path(__file__).resolve().parents[1]


def start(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, str]:
    # -S: no site-packages, so the emulator must live on the standard library alone
    process = subprocess.Popen(
        [sys.executable, "-S", "-m", "chartmogul_emulator", "--port", "0", "--customers", "50",
         "--activities", "400", "--url-file", str(tmp_path / "url"), *options],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_cli_prints_url_writes_url_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, url = start(tmp_path, "--api-key", "cli-key")
    try:
        assert url.startswith("http://127.0.0.1:")
        assert (tmp_path / "url").read_text().strip() == url
        assert Client(url, api_key="cli-key").get("/v1/ping").json() == {"data": "pong!"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, process.stderr.read() if process.stderr else ""


def test_cli_limits_are_on_by_default_and_no_limits_switches_them_off(tmp_path: Path) -> None:
    process, url = start(tmp_path)
    try:
        client = Client(url)
        assert 429 in [client.get("/v1/ping").status for _ in range(45)]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    process, url = start(tmp_path, "--no-limits")
    try:
        client = Client(url)
        assert {client.get("/v1/ping").status for _ in range(60)} == {200}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
