# BlockWatch container image. Build: docker build -t blockwatch .
# Dependencies come from requirements.lock alone, every file's hash checked (refresh it with
# ./scripts/lock). tests/test_container.py lints this file with hadolint and repeats its install
# and start-up in a clean venv as a non-root user: no image can be built where CI runs.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/blockwatch \
    && /opt/blockwatch/bin/python -m pip install --require-hashes --only-binary :all: \
       -r /tmp/requirements.lock

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/blockwatch/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=3978 \
    DATA_DIR=/app/data
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin blockwatch
WORKDIR /app
COPY --from=build /opt/blockwatch /opt/blockwatch
COPY app.py ./
COPY bot ./bot
COPY cards ./cards
RUN mkdir -p /app/data && chown blockwatch /app/data
USER 10001
# The SQLite database (cases, audit trail) lives here: mount a volume, or use PostgreSQL.
VOLUME ["/app/data"]
EXPOSE 3978
# SIGTERM: running steps get SHUTDOWN_GRACE_SECONDS, the rest are parked as interrupted.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]
CMD ["python", "app.py"]
