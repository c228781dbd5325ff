# Rightsizer's service: `rightsizer serve` (webhooks, schedules, the dashboard on port 8080)
# and `rightsizer worker` (the jobs), from one image. docker-compose.yml runs a web, two
# workers, PostgreSQL and Prometheus; deploy/helm/rightsizer is the chart for a cluster.
#
#   docker build -t rightsizer .
#   docker run --rm -p 8080:8080 --env-file .env -v rightsizer-data:/data rightsizer
#
# Without RIGHTSIZER_DATABASE_URL the state is an embedded PostgreSQL in /data (mount a volume)
# and `serve` runs the jobs itself.
# Stage 1: the wheel, built from the source tree (templates and policies inside it).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY bot bot
COPY recommenders recommenders
COPY templates templates
COPY policies policies
RUN pip wheel --no-deps --wheel-dir /wheels .

# Stage 2: what runs. The wheel and its dependencies, no source tree, no tests, no fixtures,
# no build tools.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git: the bot clones the repositories it sizes and pushes its branches.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# The dependencies first (read from pyproject.toml), so a change to the code alone does not
# download them again; then the wheel.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c 'import tomllib; p = tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]; \
print("\n".join(p["dependencies"]))' > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt /tmp/pyproject.toml
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels

# Run as a user without privileges; its state (the embedded PostgreSQL by default, the
# forecast cache) in /data.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin rightsizer \
 && mkdir -p /data && chown rightsizer:rightsizer /data
USER rightsizer
WORKDIR /data
ENV RIGHTSIZER_DATA_DIR=/data
VOLUME ["/data"]

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["rightsizer", "serve", "--host", "0.0.0.0", "--port", "8080"]
