# The platform and edge image (one image, the command picks the role). CPU only.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei libgomp1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY protocol protocol
COPY edge edge
COPY devices devices
COPY server server
COPY demo demo
COPY configs configs
RUN pip install --no-cache-dir "setuptools<81" wheel \
    && pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps "face_recognition>=1.3,<2" \
    && pip install --no-cache-dir --no-deps "rapidocr_onnxruntime==1.4.4"
RUN useradd --system --uid 10001 sc && mkdir -p /var/lib/sc && chown sc /var/lib/sc
USER sc
EXPOSE 8080
CMD ["python", "-m", "server", "--config", "configs/server/production.yaml", "run"]
