"""The ChartMogul source: the declarative manifest, built with the config, catalog and state of the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.yaml"  # absolute: never a manifest.yaml in the CWD


class SourceChartmogul(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        **kwargs: Any,
    ) -> None:
        # The CDK interpolates the config, catalog and state given here, not those passed to check/discover/read.
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state, **kwargs)

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> Any:
        """The manifest, with the activities window filter run in Python rather than Jinja (see components.py)."""
        manifest = super()._read_and_parse_yaml_file(path_to_yaml_file)
        selector = manifest["definitions"]["streams"]["activities"]["retriever"]["record_selector"]
        selector["record_filter"] = {
            "type": "CustomRecordFilter",
            "class_name": "source_chartmogul.components.ActivityWindowFilter",
            "condition": selector["record_filter"]["condition"],  # the rule it implements, kept for the record
        }
        return manifest
