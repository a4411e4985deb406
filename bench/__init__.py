"""Benchmarks of the spec's performance goals (P1–P6); `make bench` runs them all."""
