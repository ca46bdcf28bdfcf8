"""Benchmarks: `make bench` runs every `bench_*.py` here; each prints its figures and ratios to a baseline."""
