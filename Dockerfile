# BlockWatch container image. Build: docker build -t blockwatch .
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=3978

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cards ./cards
COPY app.py ./
RUN pip install . && useradd --system --uid 10001 --home /app blockwatch \
    && mkdir -p /app/data && chown blockwatch /app/data

USER 10001
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
CMD ["python", "app.py"]
