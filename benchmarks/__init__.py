"""Benchmarks that span components (e.g. training + router). May import any component; nothing imports it."""
