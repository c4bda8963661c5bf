# The code location image for Dagster's Helm chart: serves `dagster api grpc` for the chart's
# user-code deployment, runs every run pod the K8sRunLauncher starts (DAGSTER_CURRENT_IMAGE),
# and the status service (`microcks-pipeline serve-status`). No secret is baked in: settings
# and tokens come from the pod's environment (Kubernetes Secrets, see deploy/README.md).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/dagster/app

# Dependencies first, from the lock (pip freeze of a clean venv with `.[k8s]`), so a code change
# reuses this layer and every image runs the versions the tests ran.
COPY deploy/requirements.lock deploy/requirements.lock
RUN pip install --no-cache-dir --requirement deploy/requirements.lock

COPY pyproject.toml README.md ./
COPY microcks_pipeline microcks_pipeline
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import dagster_k8s, dagster_postgres, psycopg2, microcks_pipeline.definitions"

# Non-root, group 0 (OpenShift runs with an arbitrary uid in group 0); DAGSTER_HOME writable for
# the instance files the chart mounts next to it.
RUN useradd --system --uid 10001 --gid 0 --no-create-home --home-dir /opt/dagster/dagster_home dagster \
    && mkdir -p /opt/dagster/dagster_home \
    && chown 10001:0 /opt/dagster/dagster_home \
    && chmod 0775 /opt/dagster/dagster_home
USER 10001

# 3030: the chart's gRPC port; 8090: the status service.
EXPOSE 3030 8090

# The chart overrides this with `dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>`;
# the default lets `docker run` serve the code location the same way.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "--module-name", "microcks_pipeline.definitions"]
