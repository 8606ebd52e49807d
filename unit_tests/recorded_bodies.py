"""The real ChartMogul response bodies this project tests against, carried in the repository (resource/chartmogul/:
each body byte for byte, with its provenance in SOURCES.md). The one reader of that folder, for every suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDED_BODIES_DIR = Path(__file__).resolve().parent / "resource" / "chartmogul"
NOT_BODY_FILES = {"README.md", "SOURCES.md"}


def recorded_text(name: str) -> str:
    """The body of `<name>.json`, as recorded."""
    return (RECORDED_BODIES_DIR / f"{name}.json").read_text(encoding="utf-8")


def recorded(name: str) -> Any:
    return json.loads(recorded_text(name))


def body_files() -> list[Path]:
    """Every recorded body (JSON and the two text ones), by name."""
    return sorted(path for path in RECORDED_BODIES_DIR.iterdir() if path.is_file() and path.name not in NOT_BODY_FILES)


def sources_table() -> str:
    """SOURCES.md: one row per body, with its status, request, repository, cassette and commit."""
    return (RECORDED_BODIES_DIR / "SOURCES.md").read_text(encoding="utf-8")
