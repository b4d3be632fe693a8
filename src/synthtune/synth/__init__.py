"""Synthetic dataset: question generation, grounded answers, checks and judges, dedup, splits."""
