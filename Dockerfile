# Airbyte's Python connector convention: the connector base image, the package installed with pip,
# the console script as entrypoint. The labels must match metadata.yaml (a test checks them).
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md main.py ./
COPY source_chartmogul ./source_chartmogul
RUN pip install --no-cache-dir .

ENV AIRBYTE_ENTRYPOINT="source-chartmogul"
ENTRYPOINT ["source-chartmogul"]

LABEL io.airbyte.name=airbyte/source-chartmogul
LABEL io.airbyte.version=2.0.0

USER airbyte
