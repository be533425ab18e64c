"""The image the Dockerfile builds holds every app the settings install: a package left out of
its COPY lines builds fine and fails only when the container starts (seen: identity/)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_installed_app_of_ours_is_copied_into_the_image():
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    ours = {
        app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()
    }
    assert ours, "no app of ours found in INSTALLED_APPS"
    assert ours <= copied, f"the Dockerfile does not copy {sorted(ours - copied)}"
