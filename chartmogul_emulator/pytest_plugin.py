"""pytest fixtures: ``chartmogul_emulator`` (one small, unlimited, instant emulator per session) and
``chartmogul_emulator_factory`` (start emulators with any ``Emulator`` options; stopped at test end).

Enable with ``pytest_plugins = ["chartmogul_emulator.pytest_plugin"]`` in a conftest.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from .server import Emulator


@pytest.fixture(scope="session")
def chartmogul_emulator() -> Iterator[Emulator]:
    with Emulator(seed=7, customers=200, activities=2000) as emulator:
        yield emulator


@pytest.fixture
def chartmogul_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
