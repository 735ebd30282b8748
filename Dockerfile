# winback API / worker image. Build: docker build -t winback .
# (Not built on the development machine, which has no Docker engine; see README.)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WINBACK_HOST=0.0.0.0 \
    WINBACK_RUN_WORKER=false

WORKDIR /srv/winback
COPY requirements-prod.lock ./
RUN pip install --require-hashes -r requirements-prod.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Editable install keeps migrations/ beside app/, where `winback migrate` looks for them.
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 winback \
    && chown -R winback /srv/winback
USER winback

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# WINBACK_DATABASE_URL must point at PostgreSQL; the worker runs as its own container.
# WINBACK_WEB_WORKERS=N runs N API processes on port 8000 (about one per core the container may
# use; /metrics adds them up): see docs/scaling.md#several-api-processes.
CMD ["winback", "serve", "--no-worker", "--port", "8000"]
