"""deploy/: the alert rules and the scrape config pass promtool, the rules' unit tests pass, and
every metric the dashboard and the rules name is one /metrics exposes on a seeded database (so
they cannot drift apart)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from failover.demo.seed import seed_demo
from tests.metrics.scrape import TOKEN, exposed_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus-alerts.yml"
# Series Prometheus makes itself, not the app.
BUILT_IN = {"up"}
NAME = re.compile(r"\b((?:failover|django)_[a-z0-9_]+)\b")


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (Debian package prometheus; bin/system-deps)")
    return found


def run(*argv: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules():
    result = run(promtool(), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alert_rules_pass_their_unit_tests():
    result = run(promtool(), "test", "rules", "prometheus-alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_scrape_config(tmp_path):
    token = tmp_path / "token"
    token.write_text("example\n")
    config = (DEPLOY / "prometheus.yml").read_text()
    assert "/etc/prometheus/secrets/failover-metrics-token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/secrets/failover-metrics-token", str(token))
    )
    shutil.copy(RULES, tmp_path / RULES.name)
    result = run(promtool(), "check", "config", str(tmp_path / "prometheus.yml"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def expressions() -> dict[str, list[str]]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels, "the dashboard has no panels"
    rules = (DEPLOY / "prometheus-alerts.yml").read_text()
    return {
        "grafana-dashboard.json": [t["expr"] for p in panels for t in p["targets"]],
        "prometheus-alerts.yml": re.findall(r"expr: *(?:>\s*)?(.+(?:\n {10}.+)*)", rules),
    }


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_rules_name_is_exposed(client, metrics_on):
    seed_demo()
    client.get("/login/")  # django-prometheus's series appear with the first request
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    exposed = exposed_names(response.content.decode())
    for source, exprs in expressions().items():
        assert exprs, f"no expressions found in {source}"
        referenced = {name for expr in exprs for name in NAME.findall(expr)} - BUILT_IN
        assert referenced, source
        missing = sorted(referenced - exposed)
        assert not missing, f"{source} names metrics /metrics does not expose: {missing}"
