"""The `analyze` command line: thin click commands over the library, each command's text
formatting beside it."""

from analyzer.cli.main import main

__all__ = ["main"]
