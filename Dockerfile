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
EXPOSE 8000
ENTRYPOINT ["postroom"]
CMD ["doctor"]
