"""Benchmark scripts (run them as files: python benchmarks/bench_http.py ...; see docs/benchmarks.md)."""
