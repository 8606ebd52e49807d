"""The airbyte-cdk standard connector tests, driven by acceptance-test-config.yml, against the local emulator.

The suite reads the scenarios' configs from files (`secrets/config.json` holds a real key in Airbyte's CI). Offline,
every scenario is pointed at one emulator instead: the valid scenarios get the emulator's key, and
`integration_tests/invalid_config.json` keeps its wrong key, so the emulator answers it with a real 401.
"""

from __future__ import annotations

import atexit
import functools
from pathlib import Path

import pytest

from airbyte_cdk.test.models.scenario import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from chartmogul_emulator import Emulator
from source_chartmogul import SourceChartmogul

ROOT = Path(__file__).resolve().parents[1]
EMULATOR_KEY = "sk_standard_suite_9c41e07b2d"


@functools.lru_cache(maxsize=1)
def emulator() -> Emulator:
    """One emulator for the whole session: scenarios are built at collection time, before any fixture runs."""
    started = Emulator(seed=11, customers=250, activities=1_500, api_key=EMULATOR_KEY).start()
    atexit.register(started.stop)
    return started


def on_emulator(scenario: ConnectorTestScenario) -> ConnectorTestScenario:
    if scenario.requires_creds:  # a real key is not here: the emulator's account stands in for it
        config = {"api_key": EMULATOR_KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z",
                  "max_requests_per_second": 1000,  # the emulator here enforces no rate limit
                  # the segment streams' records: one configured segment and one per plan
                  "metrics_segments": [{"name": "US in USD", "filters": "currency~ANY~'USD'", "geo": "US"}],
                  "metrics_by_plan": True}
    else:
        config = scenario.get_config_dict(connector_root=ROOT, empty_if_missing=False)
    # Same scenario name (the suite reads the scenario named `config` by default), served by the emulator.
    return scenario.model_copy(
        update={"config_dict": {**config, "base_url": emulator().url}, "config_path": Path("integration_tests") / scenario.config_path.name}
    )


@pytest.fixture
def connector_image_override(docker_cli_image: str) -> str:
    """The suite's image tests run the image built from the Dockerfile (integration_tests/conftest.py): the CDK's own
    build downloads Airbyte's Dockerfile templates and base image, which no network here reaches."""
    return docker_cli_image


@pytest.fixture
def read_from_streams() -> str:
    """The image's read covers every stream of the configured catalog (the CDK's default reads none)."""
    return "all"


class TestChartmogulStandardSuite(SourceTestSuiteBase):
    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        return [on_emulator(scenario) for scenario in super().get_scenarios()]

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None) -> SourceChartmogul:
        # The CDK's default builds the source without its config, which a declarative source needs at construction.
        return SourceChartmogul(config=scenario.get_config_dict(connector_root=ROOT, empty_if_missing=True) if scenario else None)
