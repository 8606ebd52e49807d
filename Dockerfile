# Airbyte's Python connector convention: the connector base image, the package installed with pip,
# the console script as entrypoint. The labels must match metadata.yaml (a test checks them).
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md main.py ./
COPY source_chartmogul ./source_chartmogul
# airbyte-cdk's dependencies that the connector never imports are taken out again (234 of the 312 MB the install
# adds; README, "The Docker image"): pandas and numpy (the CDK's CSV job extractor, file-based sources, SQL caches), nltk
# (file-based parsing), google-cloud-secret-manager with grpc and rich (the `airbyte-cdk` developer command), rapidfuzz,
# dateparser and unidecode (imported nowhere in the CDK), and what only they need. The image tests run every command.
RUN pip install --no-cache-dir . \
 && pip uninstall --yes --quiet pandas numpy nltk joblib tqdm regex dateparser tzlocal rapidfuzz unidecode \
    google-cloud-secret-manager google-api-core google-auth grpcio grpcio-status grpc-google-iam-v1 \
    googleapis-common-protos proto-plus protobuf pyasn1 pyasn1-modules rich rich-click pygments markdown-it-py mdurl

ENV AIRBYTE_ENTRYPOINT="source-chartmogul"
ENTRYPOINT ["source-chartmogul"]

LABEL io.airbyte.name=airbyte/source-chartmogul
LABEL io.airbyte.version=2.0.0

USER airbyte
