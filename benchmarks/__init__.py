"""Benchmarks for anchorframe: ``python -m benchmarks`` reproduces every figure (see README.md)."""
