# syntax=docker/dockerfile:1
# One image for every callaudit process: `callaudit migrate|seed|api` and the Dagster code server,
# webserver and daemon. compose.yaml picks the command per service.
#
#   docker build -t callaudit:local .
#   docker run --rm callaudit:local callaudit --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the project and its dependencies -----------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them; with the
# `docker` and `k8s` extras: one image whatever DAGSTER_RUN_LAUNCHER a deployment chooses.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['docker'] + p['optional-dependencies']['k8s']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (the build context is filtered by .dockerignore). Migrations ship as the
# installed `migrations` package, which `callaudit migrate` finds without alembic.ini.
COPY . .
RUN pip install .

# --- runtime ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="callaudit" \
      org.opencontainers.image.description="Self-hostable AI call-audit platform" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CALLAUDIT_ENV=production \
    CALLAUDIT_HOME=/var/lib/callaudit \
    DAGSTER_HOME=/opt/dagster/home \
    PORT=3002

# Non-root user; DAGSTER_HOME (compute logs, run history) and CALLAUDIT_HOME must be writable by it.
RUN groupadd --system --gid 10001 callaudit \
    && useradd --system --uid 10001 --gid callaudit --home-dir /var/lib/callaudit --shell /usr/sbin/nologin callaudit \
    && mkdir -p /app /var/lib/callaudit /opt/dagster/home/storage \
    && chown -R callaudit:callaudit /var/lib/callaudit /opt/dagster/home

COPY --from=build /opt/venv /opt/venv
COPY workspace.yaml /app/workspace.yaml

# Fail the build, not the deployment, when the installed layout is broken. The default instance
# (local run launcher) is rendered here; `callaudit migrate` re-renders it for DAGSTER_RUN_LAUNCHER.
RUN callaudit --help > /dev/null \
    && python -c "from callaudit.migrate import head_revision; assert head_revision()" \
    && CALLAUDIT_ENV=development callaudit instance --write \
    && chown callaudit:callaudit /opt/dagster/home/dagster.yaml

USER callaudit
WORKDIR /app
EXPOSE 3002

# The API's liveness; compose.yaml gives every other service (Dagster, migrate) its own check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3002'), timeout=4)"]

CMD ["callaudit", "api", "--host", "0.0.0.0"]
