"""Benchmarks: `make bench` (or `python -m bench`) runs them on this machine, loopback only."""
