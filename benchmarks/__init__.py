"""Benchmarks and diagnostics of mcmot: ``python -m benchmarks.NAME --help`` (see README.md)."""
