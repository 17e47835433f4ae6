# Build: install the package into a venv; run: copy the venv, run as a non-root user.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 CRM_VAR_DIR=/data/var CRM_STORAGE_DIR=/data/files
# The volumes mounted at /data/files and /data/var start as copies of these directories, owner
# included: the non-root user can write them.
RUN useradd --create-home --uid 10001 crm && mkdir -p /data/files /data/var && chown -R crm /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY alembic.ini ./
COPY migrations ./migrations
USER crm
EXPOSE 8000
CMD ["crm", "serve", "--host", "0.0.0.0", "--port", "8000"]
