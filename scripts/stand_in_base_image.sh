#!/usr/bin/env bash
# A STAND-IN for Airbyte's connector base image (docker.io/airbyte/python-connector-base), made from Debian's
# packages because no container registry is reachable here. It is NOT Airbyte's base image: it only has what the
# Dockerfile relies on from it (Python 3.11 with pip on PATH, CA certificates, a non-root user `airbyte`), so that the
# project's own Dockerfile can be built with `--build-arg BASE_IMAGE=<this image>` and run as Airbyte runs it.
#
# Usage: scripts/stand_in_base_image.sh [IMAGE_NAME]   (default localhost/stand-in-python-connector-base:bookworm)
# Needs root, podman and mmdebstrap (Debian: apt-get install podman runc mmdebstrap). Built once per machine: an
# existing image of that name is reused.
set -euo pipefail

image="${1:-localhost/stand-in-python-connector-base:bookworm}"
if podman image exists "$image"; then
    echo "stand-in base image $image: already built, reused"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Debian bookworm's python3 is 3.11, as in Airbyte's base image 4.x. The venv stands in for that image's pip-able
# /usr/local Python: the Dockerfile's `pip install .` (as root) installs into it, and its console scripts are on PATH.
# uid 1000, as Airbyte's base image gives `airbyte`.
mmdebstrap --quiet --variant=essential \
    --include=python3,python3-venv,ca-certificates,passwd \
    --customize-hook='chroot "$1" useradd --uid 1000 --create-home --shell /bin/bash airbyte' \
    --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale' \
    bookworm "$work/rootfs.tar"

podman import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL io.airbyte.stand-in="Debian bookworm stand-in for airbyte/python-connector-base; not Airbyte image"' \
    --change 'CMD ["python3"]' \
    --quiet "$work/rootfs.tar" "$image" >/dev/null
echo "stand-in base image $image: built"
