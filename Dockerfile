FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FAILOVER_VAR_DIR=/var/lib/failover
WORKDIR /app
# Exactly the pinned releases, each checked against its hash (`make lock` writes the file), in a
# layer of their own that a code change does not rebuild; then the project without resolving
# anything more. tests/test_image_build.py runs these RUN lines in a clean venv.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY failover failover
COPY approvals approvals
COPY dnsproviders dnsproviders
COPY audit audit
COPY identity identity
COPY templates templates
COPY manage.py gunicorn.conf.py ./
RUN pip install --no-cache-dir --no-deps . && useradd --system --home /app failover \
    && mkdir -p /var/lib/failover/checkpoints && chown -R failover /var/lib/failover
# collectstatic needs settings, which refuse to load without a key: a throwaway one is fine here.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
USER failover
EXPOSE 8000
# Threaded workers (gunicorn.conf.py, settable by WEB_CONCURRENCY, GUNICORN_THREADS, ...): a
# sync worker is killed mid-response after `timeout` seconds, cutting long exports short.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "failover.wsgi"]
