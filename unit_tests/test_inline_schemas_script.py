"""scripts/inline_schemas.py on a small temporary manifest (the real manifest is never touched here)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "inline_schemas.py"
SCHEMAS_DIR = REPO_ROOT / "source_chartmogul" / "schemas"
MARKER = (
    "# Generated from source_chartmogul/schemas/*.json by scripts/inline_schemas.py (make schemas). Do not edit below."
)
# Comments, flow style, non-ASCII, trailing spaces and a CRLF line: all must survive byte for byte.
MANIFEST_HEAD = (
    "version: 7.39.1\n"
    "type: DeclarativeSource\n"
    "# streams point at the inlined schemas   \n"
    "streams:\n"
    '  - { name: plans, schema_loader: { type: InlineSchemaLoader, schema: { $ref: "#/schemas/plans" } } }\r\n'
    "description: Währung €\n"
    "\n"
    f"{MARKER}\n"
)


def run_script(manifest: Path, schemas: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--manifest", str(manifest), "--schemas", str(schemas), *extra]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, schemas)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_bytes((MANIFEST_HEAD + "schemas: {}\n").encode("utf-8"))
    return manifest, schemas


def test_generated_manifest_passes_check_and_inlines_every_schema(workspace):
    manifest, schemas = workspace
    assert run_script(manifest, schemas, "--check").returncode == 1

    generated = run_script(manifest, schemas)
    assert generated.returncode == 0, generated.stderr

    check = run_script(manifest, schemas, "--check")
    assert (check.returncode, check.stdout, check.stderr) == (0, "", "")
    inlined = yaml.safe_load(manifest.read_bytes().split(MARKER.encode(), 1)[1])["schemas"]
    expected = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in schemas.glob("*.json")}
    assert inlined == expected
    assert list(inlined) == sorted(expected)
    assert list(inlined["plans"]) == list(expected["plans"])


def test_content_above_the_marker_is_kept_byte_for_byte(workspace):
    manifest, schemas = workspace
    run_script(manifest, schemas)
    first_run = manifest.read_bytes()
    assert first_run.startswith(MANIFEST_HEAD.encode("utf-8"))
    assert first_run[len(MANIFEST_HEAD.encode("utf-8")) :].startswith(b"schemas:\n  account:\n")

    run_script(manifest, schemas)
    assert manifest.read_bytes() == first_run


def test_check_names_only_the_edited_schema(workspace):
    manifest, schemas = workspace
    run_script(manifest, schemas)
    plans_file = schemas / "plans.json"
    plans = json.loads(plans_file.read_text(encoding="utf-8"))
    plans["properties"]["name"]["description"] = "Edited after generation."
    plans_file.write_text(json.dumps(plans, indent=2) + "\n", encoding="utf-8")

    check = run_script(manifest, schemas, "--check")
    assert check.returncode == 1
    assert len(check.stdout.splitlines()) == 1
    assert "stale inlined schemas: plans " in check.stdout


def test_check_names_a_schema_file_that_was_removed(workspace):
    manifest, schemas = workspace
    run_script(manifest, schemas)
    (schemas / "tasks.json").unlink()

    check = run_script(manifest, schemas, "--check")
    assert check.returncode == 1
    assert "stale inlined schemas: tasks " in check.stdout


def test_manifest_without_the_marker_is_rejected(workspace):
    manifest, schemas = workspace
    manifest.write_text("version: 7.39.1\nschemas: {}\n", encoding="utf-8")

    result = run_script(manifest, schemas)
    assert result.returncode == 2
    assert "marker" in result.stderr
    assert manifest.read_text(encoding="utf-8") == "version: 7.39.1\nschemas: {}\n"
