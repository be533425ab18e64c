"""The production settings, for the benchmarks: pages render `{% static %}` without a
collectstatic manifest (nothing here measures static files). Everything else comes from the
environment the benchmark sets (bench/common.py `app_env`)."""

from failover.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
