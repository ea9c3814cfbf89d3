"""Peers of bench/compare.py: not shipped (pyproject packages name no bench module)."""
