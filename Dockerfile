# syntax=docker/dockerfile:1
#
# Three images from one file (docs/deploy.md):
#   docker build --target web        -t medvtab-web .          Django + gunicorn + whitenoise, no torch
#   docker build --target worker-cpu -t medvtab-worker-cpu .   + torch/timm CPU wheels (cpu queue)
#   docker build --target worker     -t medvtab-worker .       + torch/timm CUDA wheels (gpu queue)
#
# Every image runs docker/entrypoint.sh as an unprivileged user; no secret is baked in: settings
# come from the environment at run time (docker-compose.yml, .env).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The PyPI torch wheel carries its own CUDA libraries; this base adds the NVIDIA container
# runtime plumbing (NVIDIA_* variables; the toolkit mounts the driver and nvidia-smi). Keep its
# CUDA major version equal to the wheel's (python -c "import torch; print(torch.version.cuda)").
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04

# --- Python 3.11 slim: the web tier and the CPU worker --------------------------------------------
FROM ${PYTHON_IMAGE} AS slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 medvtab \
 && useradd --system --uid 10001 --gid medvtab --home-dir /app --shell /usr/sbin/nologin medvtab \
 && python -m venv /opt/venv

FROM slim AS web-deps
COPY requirements/web.txt /tmp/requirements/web.txt
RUN pip install -r /tmp/requirements/web.txt

FROM web-deps AS worker-cpu-deps
COPY requirements/worker.txt /tmp/requirements/worker.txt
# torch and torchvision from the CPU wheel index (no CUDA libraries: a far smaller image), at the
# versions pinned in worker.txt; the rest of worker.txt from PyPI (the installed "+cpu" builds
# satisfy its torch pins, so pip keeps them).
RUN grep -E '^(torch|torchvision)==' /tmp/requirements/worker.txt > /tmp/requirements/torch.txt \
 && pip install --index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements/torch.txt \
 && pip install -r /tmp/requirements/worker.txt

# --- The application tree, with static files collected once -------------------------------------
FROM web-deps AS source
WORKDIR /app
COPY . /app
# collectstatic reads the settings, which need a SECRET_KEY when DEBUG is off: a throw-away value
# given to this one RUN only (not an ENV, so no image layer or config keeps it) and a scratch var/.
RUN SECRET_KEY=collectstatic-only-not-a-secret DEBUG=0 MEDVTAB_VAR_DIR=/tmp/build-var \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var \
 && chmod 0755 /app/docker/entrypoint.sh

# --- web: gunicorn, no torch --------------------------------------------------------------------
FROM web-deps AS web
ENV DJANGO_SETTINGS_MODULE=medvtab.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDVTAB_VAR_DIR=/var/lib/medvtab \
    MEDIA_ROOT=/srv/medvtab/media \
    MEDVTAB_DATA_ROOT=/srv/medvtab/data \
    PORT=8000
COPY --from=source /app /app
RUN install -d -o medvtab -g medvtab /app/var /var/lib/medvtab /srv/medvtab/media \
    /srv/medvtab/data/public
WORKDIR /app
USER medvtab
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck", "web"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]

# --- worker-cpu: torch CPU wheels; the cpu queue (or cpu,gpu on a host without GPUs) -----------
FROM worker-cpu-deps AS worker-cpu
ENV DJANGO_SETTINGS_MODULE=medvtab.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDVTAB_VAR_DIR=/var/lib/medvtab \
    MEDIA_ROOT=/srv/medvtab/media \
    MEDVTAB_DATA_ROOT=/srv/medvtab/data \
    MEDVTAB_DEVICE=cpu \
    OMP_NUM_THREADS=1
COPY --from=source /app /app
RUN install -d -o medvtab -g medvtab /app/var /var/lib/medvtab /srv/medvtab/media \
    /srv/medvtab/data/public /srv/medvtab/data/hidden
WORKDIR /app
USER medvtab
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck", "worker-cpu"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["worker-cpu"]

# --- CUDA base with Python 3.11 (deadsnakes: Ubuntu 22.04 ships 3.10) ----------------------------
FROM ${CUDA_IMAGE} AS cuda-python
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && apt-get purge -y software-properties-common gpg-agent \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 medvtab \
 && useradd --system --uid 10001 --gid medvtab --home-dir /app --shell /usr/sbin/nologin medvtab \
 && python3.11 -m venv /opt/venv

FROM cuda-python AS worker-deps
COPY requirements/web.txt requirements/worker.txt /tmp/requirements/
# The default PyPI torch/torchvision wheels are the CUDA builds.
RUN pip install -r /tmp/requirements/worker.txt

# --- worker: CUDA; one Celery process per GPU on the gpu queue ----------------------------------
FROM worker-deps AS worker
ENV DJANGO_SETTINGS_MODULE=medvtab.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDVTAB_VAR_DIR=/var/lib/medvtab \
    MEDIA_ROOT=/srv/medvtab/media \
    MEDVTAB_DATA_ROOT=/srv/medvtab/data \
    CUDA_DEVICE_ORDER=PCI_BUS_ID \
    OMP_NUM_THREADS=4
COPY --from=source /app /app
RUN install -d -o medvtab -g medvtab /app/var /var/lib/medvtab /srv/medvtab/media \
    /srv/medvtab/data/public /srv/medvtab/data/hidden
WORKDIR /app
USER medvtab
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck", "worker-gpu"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["worker-gpu"]
