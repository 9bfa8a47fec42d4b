# One image for both processes: the worker (default command) and the bridge (`waveflow-bridge`).

# Overridable so a test can build on a stand-in made from Debian's packages where no image registry is reachable.
# Its default is tagged; older hadolint releases (2.12, the lowest we test) do not resolve an ARG's default,
# hence the DL3006 ignores.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The project as a wheel; the build tools stay in this stage.
# hadolint ignore=DL3006
FROM ${BASE_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY waveflow ./waveflow
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py sqs_bridge.py temporal_client.py payload_visits.py metrics.py rerun_failed.py ./
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TEMP_DIR=/var/tmp/waveflow \
    METRICS_BIND_ADDRESS=0.0.0.0:9464 \
    WORKER_HEALTH_BIND_ADDRESS=0.0.0.0:9465 \
    BRIDGE_HEALTH_BIND_ADDRESS=0.0.0.0:9466
# Dependencies first, exactly as locked: a change to the code reuses this layer.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/runtime.txt && rm /tmp/runtime.txt
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl && rm -r /tmp/wheels
# A numeric user, so Kubernetes can verify runAsNonRoot; the temp area is the only place it writes.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin waveflow \
    && mkdir -p /var/tmp/waveflow && chown 10001 /var/tmp/waveflow
USER 10001
EXPOSE 9464 9465 9466
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "waveflow.health"]
CMD ["waveflow-worker"]
