"""Reading /metrics the way Prometheus does: the text format, parsed by prometheus_client."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token-" + "t" * 24


def scrape(client, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an authorised scrape: (name, sorted labels) -> value."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:300]
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


def exposed_names(text: str) -> set[str]:
    """The series names a query may use, from every family /metrics declares (a family with
    no rows yet, e.g. requests by state on an empty database, is declared all the same)."""
    found = set()
    for family in text_string_to_metric_families(text):
        found.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        found.update(sample.name for sample in family.samples)
    return found
