"""``python -m synthtune``: the same command as ``synthtune``."""

from synthtune.cli import main

main()
