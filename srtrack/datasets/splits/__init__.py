"""Shipped split lists (package data) and their resolution."""

from srtrack.datasets.splits.lists import ListSource, Split, builtin_list_names, parse_list, resolve_list

__all__ = ["ListSource", "Split", "builtin_list_names", "parse_list", "resolve_list"]
