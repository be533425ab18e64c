"""METRICS_TOKEN from a file (a Docker/Kubernetes secret), and a bad network stops start-up."""

from tests.test_settings import manage

KEY = {"SECRET_KEY": "m" * 20 + "etrics-config-test-key-with-enough-characters-0123"}
SHOW = "from django.conf import settings; print(settings.METRICS_TOKEN)"


def test_the_token_can_come_from_a_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-token\n")
    result = manage(
        "shell", "-c", SHOW, tmp_path=tmp_path, env={**KEY, "METRICS_TOKEN_FILE": str(token_file)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "from-a-file-token"


def test_a_network_that_is_not_one_stops_start_up(tmp_path):
    env = {**KEY, "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8, eu-west"}
    result = manage("check", tmp_path=tmp_path, env=env)
    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS: 'eu-west' is not a network" in result.stderr
