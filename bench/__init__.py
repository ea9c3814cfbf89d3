"""Benchmarks: scripts that print figures (make bench, bench-documents, bench-redactor); never shipped."""
