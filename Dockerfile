FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY waveflow ./waveflow
COPY workflows ./workflows
COPY activities ./activities
COPY devstack ./devstack
COPY worker.py sqs_bridge.py temporal_client.py ./
RUN pip install --no-cache-dir .
RUN useradd --create-home waveflow && mkdir -p /var/tmp/waveflow && chown waveflow /var/tmp/waveflow
USER waveflow
ENV TEMP_DIR=/var/tmp/waveflow
CMD ["waveflow-worker"]
