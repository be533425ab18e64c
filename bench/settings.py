"""The production settings, for the benchmarks: pages render `{% static %}` without a
collectstatic manifest (nothing here measures static files), and the URLconf is bench/urls.py
(the product's routes plus the baseline endpoints). Everything else comes from the environment
the benchmark sets (bench/common.py `app_env`)."""

from failover.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The product's URLconf never routes benchmark code; this one adds it (BENCH_BASELINE=1).
ROOT_URLCONF = "bench.urls"
