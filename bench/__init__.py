"""Benchmarks: each `bench/bench_*.py` has `main() -> dict` and prints ratios measured side by side."""
