from importlib.metadata import PackageNotFoundError, version

from failover.celery import app as celery_app

try:
    # One place for the version: pyproject.toml, as installed (CHANGELOG.md says what is in it).
    __version__ = version("failover-approvals")
except PackageNotFoundError:  # a checkout run without `pip install` (make install does one)
    __version__ = "unknown"

__all__ = ["__version__", "celery_app"]
