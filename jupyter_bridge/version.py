"""The package's version (read by the build, shown by the server and the CLI)."""

__version__ = "0.1.0"
