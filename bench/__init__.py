"""winback benchmarks (SPEC §13): `python -m bench` (scenarios in bench/scenarios.py, the
registry and runner in bench/registry.py), and `python -m bench.profile_ingest`.

Everything runs on this machine and talks only to 127.0.0.1: each HTTP server is its own uvicorn
subprocess, the load generator is an asyncio process sharing the same CPUs, and PostgreSQL is the
server given by `--database-url` (the benchmark creates and drops its own `winback_bench*`
databases there).
"""
