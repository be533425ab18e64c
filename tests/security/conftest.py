"""Security tests reuse the browser views' fixtures: the demo data and a real Chromium."""

from tests.web.conftest import browser, demo, signed_in  # noqa: F401
