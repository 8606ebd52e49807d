"""The connector's image for the image tests (integration_tests/test_docker_image.py, and the CDK standard suite's
`image_tests`): built once a session; where no container engine is, they skip off CI with how to run them, and fail
with CI=true."""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from integration_tests.container_image import HOW_TO_RUN, MEASURED, STATE_DIR, BuiltImage, build_image, find_engine

ON_CI = os.environ.get("CI", "").lower() == "true"
# The CDK's own skip of its image tests where no `docker` command is (docker_base.py).
CDK_NO_DOCKER = "docker CLI not found in PATH"


@pytest.fixture(scope="session")
def connector_image() -> BuiltImage:
    engine = find_engine()
    if engine is None:
        pytest.skip(HOW_TO_RUN)
    image = build_image(engine)
    MEASURED.update(engine.timings)
    MEASURED["image size, MB"] = image.size_bytes / 1e6  # as `podman images` shows it
    return image


@pytest.fixture(scope="session")
def docker_cli_image(connector_image: BuiltImage) -> Iterator[str]:
    """The image, for the `docker` command the CDK's image tests run. With podman, that command is podman itself (as
    Debian's podman-docker makes it), in this machine's configuration: podman's Docker-compatible API (`podman system
    service`, DOCKER_HOST) starts `docker run` on a bridge network whatever containers.conf says, where 127.0.0.1 is
    not the emulator's (check: "[Errno 111] Connection refused"); podman's own `run` takes the host's network from it."""
    engine = connector_image.engine
    if engine.name == "docker":
        yield connector_image.name
        return
    shim = STATE_DIR / "bin" / "docker"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text('#!/bin/sh\nexec podman "$@"\n')
    shim.chmod(0o755)
    previous = {name: os.environ.get(name) for name in ("PATH", "CONTAINERS_CONF")}
    os.environ.update(PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}", CONTAINERS_CONF=engine.env["CONTAINERS_CONF"])
    try:
        yield connector_image.name
    finally:
        for name, value in previous.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """An image test skipped for want of a container engine fails with CI=true; off CI its reason says how to run it."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and item.get_closest_marker("image_tests") and isinstance(report.longrepr, tuple)):
        return
    path, line, reason = report.longrepr
    if CDK_NO_DOCKER in reason or HOW_TO_RUN in reason:
        if ON_CI:
            report.outcome, report.longrepr = "failed", f"CI=true, and the image tests cannot run here: {reason}"
        else:
            report.longrepr = (path, line, HOW_TO_RUN)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.write_line("image tests: " + ", ".join(f"{step} {value:.1f}" + ("" if "MB" in step else " s")
                                                                for step, value in MEASURED.items()))
