"""The benchmarks' URLconf (bench/settings.py): the product's routes, plus the baseline
endpoints of bench/baseline.py when BENCH_BASELINE=1. The product's own URLconf never names
benchmark code."""

from django.urls import include, path

from failover import urls as product
from failover.env import env_bool

urlpatterns = list(product.urlpatterns)
if env_bool("BENCH_BASELINE"):
    urlpatterns.insert(0, path("bench/", include("bench.baseline")))

handler404 = product.handler404
handler500 = product.handler500
