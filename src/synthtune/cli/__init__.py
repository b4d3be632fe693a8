"""The ``synthtune`` command: :mod:`synthtune.cli.app` parses each command's arguments and calls the
library; :mod:`synthtune.cli.render` prints the results."""

from synthtune.cli.app import app, main

__all__ = ["app", "main"]
