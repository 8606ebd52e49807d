"""The connector's Docker image, built from the repository's own Dockerfile and run as Airbyte runs it, with podman (no
daemon needed) or docker.

With podman, the image is built FROM a stand-in for Airbyte's base image (scripts/stand_in_base_image.sh: Debian's
Python 3.11, a user `airbyte`), because no container registry is reachable here: it is NOT Airbyte's base image, and the
Dockerfile is otherwise unchanged. With docker alone, it is built FROM Airbyte's base image itself (the Dockerfile's
default), pulled from Docker Hub.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/source-chartmogul:dev"
STAND_IN_BASE_IMAGE = "localhost/stand-in-python-connector-base:bookworm"
# What a machine lacks for the image tests, and how to get it: the skip reason off CI (with CI=true they fail).
HOW_TO_RUN = ("image tests skipped: they need podman (or docker). As root, `CI=true bash .ci/run` installs it and runs them;"
              " or `apt-get install podman runc mmdebstrap` (and podman-docker where no `docker` command is), then `make test`")
# The host's CA bundle, bind-mounted read-only into the build's RUN steps: HTTPS from inside a build here goes through a
# proxy whose authority only that bundle has. It is not baked into the image.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STATE_DIR = ROOT / ".cache" / "container-engine"
# Seconds of each step (and the image's size), for the test session's summary line.
MEASURED: dict[str, float] = {}


@dataclass
class Engine:
    """The container CLI (`podman` or `docker`) and the environment it needs on this machine."""

    name: str
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def command(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`<engine> args...`; a leading "bash" runs a script in the engine's environment instead."""
        argv = list(args) if args[0] == "bash" else [self.name, *args]
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"`{' '.join(argv[:4])} ...` exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def timed(self, step: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = self.command(*args, timeout=timeout)
        self.timings[step] = time.monotonic() - started
        return result


def find_engine() -> Engine | None:
    """podman if installed (configured for this machine: see podman_conf), else a docker whose daemon answers."""
    if shutil.which("podman"):
        return Engine("podman", {**os.environ, "CONTAINERS_CONF": str(podman_conf())})
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return Engine("docker", dict(os.environ))
    return None


def podman_conf() -> Path:
    """A containers.conf for podman on these machines, given through CONTAINERS_CONF (nothing in /etc changes):
    - runc: crun refuses the host's hybrid cgroup layout ("cgroups in hybrid mode not supported");
    - ulimits at the host's hard limits: root may not raise them here, and podman's defaults fail the container start
      ("setrlimit `RLIMIT_NOFILE`: Operation not permitted");
    - the host's network: the containers reach the emulator on 127.0.0.1, also when the CDK's image tests start them
      (`docker run` without `--network`, podman as `docker`)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
    limit = lambda hard: "unlimited" if hard == resource.RLIM_INFINITY else hard  # noqa: E731
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    conf = STATE_DIR / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={limit(nofile)}:{limit(nofile)}", "nproc={nproc}:{nproc}"]\n'
                    f'netns = "host"\n\n[engine]\nruntime = "runc"\n')
    return conf


@dataclass
class BuiltImage:
    name: str
    engine: Engine
    size_bytes: int
    base: str


def build_image(engine: Engine) -> BuiltImage:
    """The stand-in base (podman: once per machine), then the project's Dockerfile built on it; each step timed."""
    build = ["build", "--quiet", "--tag", IMAGE, "--file", str(ROOT / "Dockerfile")]
    if engine.name == "podman":
        engine.timed("stand-in base image", "bash", str(ROOT / "scripts" / "stand_in_base_image.sh"), STAND_IN_BASE_IMAGE)
        build += ["--build-arg", f"BASE_IMAGE={STAND_IN_BASE_IMAGE}"]
        if HOST_CA_BUNDLE.is_file():
            build += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
    engine.timed("image build", *build, str(ROOT), timeout=900)
    inspected = json.loads(engine.command("image", "inspect", IMAGE).stdout)[0]
    base = STAND_IN_BASE_IMAGE if engine.name == "podman" else "the Dockerfile's BASE_IMAGE (Airbyte's base image)"
    return BuiltImage(IMAGE, engine, int(inspected["Size"]), base)


@dataclass
class ContainerRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


def run_in_image(image: BuiltImage, args: list[str], mounts: dict[str, Path] | None = None, label: str = "") -> ContainerRun:
    """`run --rm --network host` of the image's entrypoint with `args`, each of `mounts` (container path: host file)
    mounted read-only, as the image's user (airbyte); its time in MEASURED under `label`."""
    volumes = [arg for target, source in (mounts or {}).items() for arg in ("--volume", f"{source}:{target}:ro")]
    started = time.monotonic()
    result = image.engine.command("run", "--rm", "--network", "host", *volumes, image.name, *args, check=False)
    MEASURED[label or args[0]] = time.monotonic() - started
    return ContainerRun(result.returncode, result.stdout, result.stderr, MEASURED[label or args[0]])
