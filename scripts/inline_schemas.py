"""Inline source_chartmogul/schemas/*.json into the manifest's top-level `schemas:` section.

The section is the last one of the manifest and follows MARKER; everything above MARKER is kept byte for byte.
With --check nothing is written: exit 1 naming the stale streams if the manifest differs from what would be generated.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = REPO_ROOT / "source_chartmogul" / "manifest.yaml"
DEFAULT_SCHEMAS_DIR = REPO_ROOT / "source_chartmogul" / "schemas"
MARKER = (
    "# Generated from source_chartmogul/schemas/*.json by scripts/inline_schemas.py (make schemas). Do not edit below."
)
SECTION_KEY = "schemas"
INDENT = "  "


class ManifestLayoutError(Exception):
    pass


def load_schemas(schemas_dir: Path) -> dict[str, dict]:
    files = sorted(schemas_dir.glob("*.json"), key=lambda path: path.stem)
    if not files:
        raise ManifestLayoutError(f"no *.json schema files in {schemas_dir}")
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in files}


def render_section(schemas: dict[str, dict]) -> str:
    dumped = yaml.safe_dump(schemas, sort_keys=False, allow_unicode=True, width=120)
    return f"{SECTION_KEY}:\n" + "".join(INDENT + line for line in dumped.splitlines(keepends=True))


def split_at_marker(manifest_text: str) -> tuple[str, str]:
    """(text up to and including the marker line, text below it)."""
    lines = manifest_text.splitlines(keepends=True)
    marker_indexes = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == MARKER]
    if len(marker_indexes) != 1:
        raise ManifestLayoutError(f"expected the marker line exactly once, found it {len(marker_indexes)} times")
    marker_index = marker_indexes[0]
    head = "".join(lines[: marker_index + 1])
    if not head.endswith("\n"):
        head += "\n"
    return head, "".join(lines[marker_index + 1 :])


def stale_streams(current_section: str, schemas: dict[str, dict]) -> list[str]:
    """Streams whose inlined schema is missing, different or no longer backed by a file."""
    try:
        document = yaml.safe_load(current_section)
    except yaml.YAMLError:
        return sorted(schemas)
    inlined = document.get(SECTION_KEY) if isinstance(document, dict) else None
    if not isinstance(inlined, dict):
        return sorted(schemas)
    return sorted(name for name in schemas.keys() | inlined.keys() if inlined.get(name) != schemas.get(name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="manifest.yaml to rewrite")
    parser.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMAS_DIR, help="folder of <stream>.json files")
    parser.add_argument("--check", action="store_true", help="only report whether the manifest is up to date")
    args = parser.parse_args(argv)

    # newline="" keeps the manifest's line endings, so the part above the marker stays byte for byte.
    with args.manifest.open(encoding="utf-8", newline="") as manifest_file:
        manifest_text = manifest_file.read()
    try:
        schemas = load_schemas(args.schemas)
        head, current_section = split_at_marker(manifest_text)
    except ManifestLayoutError as error:
        print(f"{args.manifest}: {error}", file=sys.stderr)
        return 2
    section = render_section(schemas)

    if args.check:
        if current_section == section:
            return 0
        stale = stale_streams(current_section, schemas)
        if stale:
            print(f"{args.manifest}: stale inlined schemas: {', '.join(stale)} (run scripts/inline_schemas.py)")
        else:
            print(f"{args.manifest}: schemas section is not formatted as generated (run scripts/inline_schemas.py)")
        return 1

    with args.manifest.open("w", encoding="utf-8", newline="") as manifest_file:
        manifest_file.write(head + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
