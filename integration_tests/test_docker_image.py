"""The connector's Docker image, built from the repository's Dockerfile and run as Airbyte runs it: each command in a
fresh container, as its non-root user, the config, catalog and state mounted read-only, against the emulator on
127.0.0.1 (host network). Records are compared with the emulator's ground truth, and everything else with what the
installed package (`python main.py`) emits from the same files; the key shows in no output of the container.

With podman the image is built on a STAND-IN for Airbyte's base image (scripts/stand_in_base_image.sh, Debian's Python
3.11): what is tested is the project's Dockerfile and the package installed in it, not Airbyte's base image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from chartmogul_emulator import Emulator
from chartmogul_emulator.stream_truth import ground_truth
from integration_tests.connector_cli import ROOT, SEGMENTED, STREAM_NAMES, STREAMS, Run, as_multiset, configured, connector_command, run_connector
from integration_tests.container_image import STAND_IN_BASE_IMAGE, BuiltImage, ContainerRun, run_in_image
from integration_tests.reliability import assert_key_hidden

pytestmark = pytest.mark.image_tests

# Long, and with "+" and "/" so that its base64 and URL-encoded forms differ from it (reliability.forms_of_key).
KEY = "sk_live_ImageTest+8d2f61c4a9b0/e7354c1f0b9a2d86e4f1"
WRONG_KEY = "sk_live_WrongImageKey+0c1d/94b7e2a6f3d58c0b1e27"
CONFIG = {"api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "max_requests_per_second": 1000,
          **SEGMENTED}
CUSTOMERS, ACTIVITIES = 600, 3_000  # 3 pages of customers: a read checkpoints between pages
FULL_REFRESH_DONE = {"__ab_no_cursor_state_message": True}
# Where the container finds the files given with each option.
MOUNTED = {"--config": "/secrets/config.json", "--catalog": "/secrets/catalog.json", "--state": "/secrets/state.json"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=9, customers=CUSTOMERS, activities=ACTIVITIES, api_key=KEY) as started:
        yield started


def in_image(image: BuiltImage, label: str, command: str, tmp_path: Path, config: dict[str, Any], **catalog_and_state: Any) -> ContainerRun:
    """`command` in the image with the files `python main.py` would be given (connector_cli.connector_command), mounted
    read-only; the key, in none of its forms, in what the container printed."""
    args = connector_command(command, tmp_path, config, **catalog_and_state)[2:]  # without `python main.py`
    in_container, mounts = [], {}
    for option, value in zip([""] + args, args):
        if option in MOUNTED:  # the file after --config, --catalog or --state
            mounts[MOUNTED[option]] = Path(value)
            value = MOUNTED[option]
        in_container.append(value)
    run = run_in_image(image, in_container, mounts, label)
    assert_key_hidden(run.stdout + run.stderr, config["api_key"])
    return run


def on_host(command: str, tmp_path: Path, config: dict[str, Any], **catalog_and_state: Any) -> Run:
    return run_connector(command, tmp_path, config, **catalog_and_state)


def of_type(messages: list[dict[str, Any]], message_type: str) -> list[dict[str, Any]]:
    return [message for message in messages if message["type"] == message_type]


def final_states(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {m["state"]["stream"]["stream_descriptor"]["name"]: m["state"]["stream"]["stream_state"] for m in of_type(messages, "STATE")}


def records_of(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"]["data"] for m in of_type(messages, "RECORD") if m["record"]["stream"] == stream]


# Every stream; activities incremental (it has a cursor), the rest full refresh.
CATALOG = {"streams": [configured(entry, "incremental" if entry["stream"]["name"] == "activities" else "full_refresh") for entry in STREAMS]}


@pytest.fixture(scope="module")
def full_read(connector_image: BuiltImage, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> ContainerRun:
    return in_image(connector_image, "read of every stream", "read", tmp_path_factory.mktemp("read"), {**CONFIG, "base_url": emulator.url}, catalog=CATALOG)


def test_the_image_is_the_dockerfile_on_its_base_and_runs_as_airbyte(connector_image: BuiltImage) -> None:
    inspected = json.loads(connector_image.engine.command("image", "inspect", connector_image.name).stdout)[0]["Config"]
    assert inspected["Labels"]["io.airbyte.name"] == "airbyte/source-chartmogul"
    assert inspected["Entrypoint"] == ["source-chartmogul"] and inspected["User"] == "airbyte"
    if connector_image.base == STAND_IN_BASE_IMAGE:  # said in the image too: the base is not Airbyte's
        assert "stand-in" in inspected["Labels"]["io.airbyte.stand-in"]
    who = connector_image.engine.command("run", "--rm", "--entrypoint", "id", connector_image.name).stdout
    assert who.startswith("uid=1000(airbyte)"), who


def test_spec_is_the_installed_packages(connector_image: BuiltImage, tmp_path: Path) -> None:
    run = run_in_image(connector_image, ["spec"])
    assert run.returncode == 0, run.stderr[-2000:]
    host = subprocess.run([sys.executable, str(ROOT / "main.py"), "spec"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    host_messages = [json.loads(line) for line in host.stdout.splitlines() if line.startswith("{")]
    assert [m["spec"] for m in of_type(run.messages, "SPEC")] == [m["spec"] for m in of_type(host_messages, "SPEC")] != []


def test_check_succeeds_with_the_key(connector_image: BuiltImage, emulator: Emulator, tmp_path: Path) -> None:
    run = in_image(connector_image, "check", "check", tmp_path, {**CONFIG, "base_url": emulator.url})
    assert run.returncode == 0, run.stderr[-2000:]
    assert [m["connectionStatus"]["status"] for m in of_type(run.messages, "CONNECTION_STATUS")] == ["SUCCEEDED"]


def test_check_fails_with_a_wrong_key_saying_what_to_do(connector_image: BuiltImage, emulator: Emulator, tmp_path: Path) -> None:
    # --debug logs each request's headers: the wrong key's Basic credentials among them, masked.
    run = in_image(connector_image, "check with a wrong key", "check", tmp_path, {**CONFIG, "api_key": WRONG_KEY, "base_url": emulator.url}, debug=True)
    assert run.returncode == 0, run.stderr[-2000:]
    (status,) = [m["connectionStatus"] for m in of_type(run.messages, "CONNECTION_STATUS")]
    assert status["status"] == "FAILED" and "ChartMogul rejected the API key (HTTP 401)" in status["message"]


def test_discover_is_the_installed_packages(connector_image: BuiltImage, emulator: Emulator, tmp_path: Path) -> None:
    config = {**CONFIG, "base_url": emulator.url}
    run = in_image(connector_image, "discover", "discover", tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]
    (catalog,) = [m["catalog"] for m in of_type(run.messages, "CATALOG")]
    assert [stream["name"] for stream in catalog["streams"]] == STREAM_NAMES
    assert catalog == on_host("discover", tmp_path, config).of_type("CATALOG")[0]["catalog"]


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_read_of_every_stream_delivers_exactly_the_ground_truth(stream: str, full_read: ContainerRun, emulator: Emulator) -> None:
    assert full_read.returncode == 0, full_read.stderr[-2000:]
    emitted, expected = as_multiset(records_of(full_read.messages, stream)), as_multiset(ground_truth(emulator, stream, CONFIG))
    missing, unexpected = expected - emitted, emitted - expected
    assert not missing and not unexpected, f"{stream}: {len(missing)} missing, {len(unexpected)} unexpected or duplicated"
    assert expected, f"the emulator's account has no {stream}: the comparison would prove nothing"


def test_the_reads_states_are_the_installed_packages(full_read: ContainerRun, emulator: Emulator, tmp_path: Path) -> None:
    host = on_host("read", tmp_path, {**CONFIG, "base_url": emulator.url}, catalog=CATALOG)
    states = final_states(full_read.messages)
    assert sorted(states) == sorted(STREAM_NAMES)
    assert states == final_states(host.messages)
    assert states["activities"] == {"date": max(a["date"] for a in ground_truth(emulator, "activities", CONFIG))[:19] + "Z"}


def test_a_read_from_the_states_resumes(connector_image: BuiltImage, full_read: ContainerRun, emulator: Emulator, tmp_path: Path) -> None:
    """customers from the checkpoint after its first page (as a sync stopped there), activities from its final state:
    customers resumes at its second page, activities re-reads only its lookback; both as the installed package does."""
    first_customers_checkpoint, records_before = None, 0
    for message in full_read.messages:
        if message["type"] == "RECORD" and message["record"]["stream"] == "customers":
            records_before += 1
        elif message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] == "customers":
            first_customers_checkpoint = message["state"]["stream"]["stream_state"]
            break
    assert first_customers_checkpoint and set(first_customers_checkpoint) == {"cursor"} and records_before == 200
    states = {"customers": first_customers_checkpoint, "activities": final_states(full_read.messages)["activities"]}
    catalog = {"streams": [entry for entry in CATALOG["streams"] if entry["stream"]["name"] in states]}
    config = {**CONFIG, "base_url": emulator.url}

    resumed = in_image(connector_image, "read from the states", "read", tmp_path, config, catalog=catalog, states=states)

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert records_of(resumed.messages, "customers") == ground_truth(emulator, "customers", CONFIG)[200:]
    host = on_host("read", tmp_path, config, catalog=catalog, states=states)
    lookback = records_of(resumed.messages, "activities")
    assert 0 < len(lookback) < ACTIVITIES and as_multiset(lookback) == as_multiset(host.records("activities"))
    assert final_states(resumed.messages) == final_states(host.messages) == {**states, "customers": FULL_REFRESH_DONE}
