"""Configuration: one YAML file (plus overlays) validated by one JSON Schema, then typed."""

from srtrack.config.loader import (
    all_variants,
    config_from_dict,
    config_location,
    config_to_dict,
    deep_merge,
    load_config,
    load_config_dict,
    load_schema,
    method_names,
    section,
    sweep_label,
    sweep_variants,
    to_plain,
    validate_dict,
    variant_overrides,
)
from srtrack.config.types import Config, DatasetConfig

__all__ = [
    "all_variants",
    "Config",
    "DatasetConfig",
    "config_from_dict",
    "config_location",
    "config_to_dict",
    "deep_merge",
    "load_config",
    "load_config_dict",
    "load_schema",
    "method_names",
    "section",
    "sweep_label",
    "sweep_variants",
    "to_plain",
    "validate_dict",
    "variant_overrides",
]
