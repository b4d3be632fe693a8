"""Shared text vocabulary below the stages: numbers, refusals, citations, judge replies."""
