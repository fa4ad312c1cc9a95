# Postroom image: the core, training and the CPU ONNX Runtime. Build: docker build -t postroom .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY postroom ./postroom
COPY labeling ./labeling
COPY training ./training
COPY serving ./serving
COPY router ./router
COPY benchmarks ./benchmarks
COPY examples ./examples
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir '.[train,cpu]'
# Not root: the service parses client mail (MIME, HTML). /data (store, registry, keys) is its one writable
# place, owner-only (0700); a fresh named volume mounted there takes this ownership and mode.
RUN useradd --system --uid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin postroom \
    && mkdir -p /data && chown postroom:postroom /data && chmod 0700 /data
USER 10001:10001
ENV HOME=/data
EXPOSE 8000
ENTRYPOINT ["postroom"]
CMD ["doctor"]
