"""The local web app of ``synthtune serve``: ask, cited pages, dataset review, runs."""

from synthtune.web.app import create_app
from synthtune.web.security import Guard

__all__ = ["Guard", "create_app"]
