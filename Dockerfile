FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FAILOVER_VAR_DIR=/var/lib/failover
WORKDIR /app
COPY pyproject.toml README.md ./
COPY failover failover
COPY approvals approvals
COPY dnsproviders dnsproviders
COPY audit audit
COPY templates templates
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system --home /app failover \
    && mkdir -p /var/lib/failover && chown failover /var/lib/failover
# collectstatic needs settings, which refuse to load without a key: a throwaway one is fine here.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
USER failover
EXPOSE 8000
CMD ["gunicorn", "failover.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
