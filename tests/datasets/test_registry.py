"""The reader registry is the one list of benchmarks: the schema, the typed config and the scoring
facts agree with it."""

from __future__ import annotations

import dataclasses
from importlib.resources import files

import pytest
import yaml

from srtrack.config.types import DatasetsConfig
from srtrack.datasets import READERS
from srtrack.datasets.base import BenchmarkReader, register_reader


def schema() -> dict:
    return yaml.safe_load(files("srtrack.resources").joinpath("config.schema.yaml").read_text())


def test_schema_lists_the_registered_benchmarks_in_registry_order():
    datasets = schema()["properties"]["datasets"]
    assert datasets["required"] == list(READERS)
    assert sorted(datasets["properties"]) == sorted(READERS)
    assert [f.name for f in dataclasses.fields(DatasetsConfig)] == list(READERS)


def test_profile_overrides_accept_exactly_the_registered_benchmarks_and_their_profiles():
    profiles = schema()["properties"]["evaluate"]["properties"]["profiles"]
    assert sorted(profiles["propertyNames"]["enum"]) == sorted(READERS)
    known = set(profiles["additionalProperties"]["items"]["enum"])
    for reader in READERS.values():
        assert set(reader.profiles) <= known, reader.name


@pytest.mark.parametrize("name", list(READERS))
def test_every_column_is_scored_by_a_default_profile(name):
    reader = READERS[name]
    assert reader.headline in dict(reader.columns)
    for column, metric in reader.columns:
        assert metric.split("/", 1)[0] in reader.profiles, (name, column, metric)


def test_registration_refuses_a_reader_without_its_scoring_facts():
    class NoFacts(BenchmarkReader):
        name = "nofacts"
        modality = "rgbt"
        title = "No facts"

    with pytest.raises(TypeError, match="profiles, columns, headline"):
        register_reader(NoFacts)

    class WrongHeadline(NoFacts):
        profiles = ("lasher_rgbt",)
        columns = (("SR", "lasher_rgbt/success_auc"),)
        headline = "AUC"

    with pytest.raises(TypeError, match="headline 'AUC'"):
        register_reader(WrongHeadline)
    assert "nofacts" not in READERS
