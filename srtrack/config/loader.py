"""Load, merge, validate and type the YAML configuration.

Files are deep-merged in order (later files win, as Snakemake's --configfile does), `--set a.b=v`
overrides are applied, and the result is validated against workflow/schemas/config.schema.yaml
(shipped as srtrack/resources/config.schema.yaml). Every violation is reported at once with the
file, line and dotted key, then the dict is turned into the frozen dataclasses of `types.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import jsonschema
import yaml

from srtrack.config.types import Config, MethodVariant, StudyConfig
from srtrack.errors import ConfigError, lookalike_note, shown

SCHEMA_RESOURCE = "config.schema.yaml"


def load_schema() -> dict[str, Any]:
    """The JSON Schema shared with the Snakemake workflow (a fresh copy; parsed once per process)."""
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = resources.files("srtrack.resources").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


MAX_EXPANDED_NODES = 100_000  # a full config has about 600; aliases that expand beyond this are refused


def safe_yaml(text: str, origin: str) -> Any:
    """`yaml.safe_load`, with the size that aliases expand to bounded: `*name` shares a node that a
    later copy or walk expands, so a few lines (a "billion laughs") can need gigabytes."""
    try:
        root = yaml.compose(text)
        if root is not None:
            size = _expanded_size(root, {})
            if size > MAX_EXPANDED_NODES:
                raise ConfigError(f"{origin}: YAML aliases (*name) expand this to more than {MAX_EXPANDED_NODES:,} "
                                  "values; write the values out")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the tree has once every alias is copied out (each shared node counted once)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once (safe_load refuses nothing; YAML allows cycles)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = min(size, 10 * MAX_EXPANDED_NODES)
    return memo[id(node)]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    data = safe_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `update` into a copy of `base`; mappings merge key by key, everything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=yaml-value` override in place (the key must exist in the base config)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {ascii(assignment)}: expected KEY=VALUE, e.g. study.seed=3")
    *parents, leaf = key.split(".")
    node: Any = data
    for i, part in enumerate(parents):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"override {ascii(assignment)}: no section {ascii('.'.join(parents[: i + 1]))} in the "
                              f"config{lookalike_note(key)}")
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"override {ascii(assignment)}: {ascii('.'.join(parents))} is not a section")
    try:
        node[leaf] = safe_yaml(raw, f"--set {assignment}")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (the value after = is read as YAML; quote strings)") from None


def _line_of(path: Path, key_path: list[str | int]) -> int | None:
    """1-based line of a dotted key in a YAML file, or None where the file does not set it (the
    deepest key it sets on the path: a list item or value below a key the file sets is its)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for part in key_path:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == str(part)]
            if not match:
                return None
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return line  # inside a value the file sets (e.g. a list or a scalar given for a section)
        line = node.start_mark.line + 1
    return line


def _override_sets(assignment: str, key_path: list[str | int]) -> bool:
    """Whether `--set a.b=v` set this key (or a section holding it, or a key inside it)."""
    target = assignment.partition("=")[0].split(".")
    path = [str(p) for p in key_path]
    return path[: len(target)] == target or target[: len(path)] == path


def _where(sources: tuple[Path, ...], key_path: list[str | int], overrides: tuple[str, ...] = ()) -> str:
    """What set a key last, for error messages: `--set key=value`, else the last file (and line)."""
    for assignment in reversed(overrides):
        if _override_sets(assignment, key_path):
            return f"--set {shown(assignment)}"
    for path in reversed(sources):
        line = _line_of(path, key_path)
        if line is not None:
            return f"{path}:{line}"
    return ", ".join(str(p) for p in sources) or "<no file>"


def config_location(cfg: Config, dotted: str) -> str:
    """Where the config sets a dotted key last (`file:line` or `--set ...`), for error messages below the CLI."""
    return _where(cfg.sources, dotted.split("."), cfg.overrides)


def validate_dict(data: Mapping[str, Any], sources: tuple[Path, ...] = (), overrides: tuple[str, ...] = ()) -> None:
    """Check a merged config against the schema; raise one ConfigError listing every violation."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for err in errors:
        key_path = list(err.absolute_path)
        if err.validator in ("additionalProperties", "unevaluatedProperties"):
            known = sorted(_known_keys(err.schema))
            for unknown in sorted(set(err.instance) - set(known)):
                path = [*key_path, unknown]
                lines.append(f"{_where(sources, path, overrides)}: {_dotted(path)}: unknown key "
                             f"(expected one of: {', '.join(known)}){lookalike_note('.'.join(map(str, path)))}")
        else:
            lines.append(f"{_where(sources, key_path, overrides)}: {_dotted(key_path)}: {err.message}")
    for key_path in _non_integers(data, _schema()):
        lines.append(f"{_where(sources, key_path, overrides)}: {_dotted(key_path)}: "
                     f"{_value_at(data, key_path)!r} is not an integer (write it without a decimal point)")
    if not lines:
        return
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def _non_integers(data: Any, schema: Mapping[str, Any], path: list[str | int] | None = None) -> list[list[str | int]]:
    """Keys the schema types as integer whose value is a float such as 1.0 (JSON Schema accepts those
    as integers; the stages would not)."""
    path = path or []
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        schema = {**_schema()["$defs"][ref.split("/")[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    found: list[list[str | int]] = []
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    if isinstance(data, float) and any(_is_integer_type(o) for o in options) and \
            not any(_allows_number(o) for o in options):
        return [path]
    if isinstance(data, Mapping):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            sub = properties.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                found += _non_integers(value, sub, [*path, key])
    elif isinstance(data, list) and isinstance(schema.get("items"), Mapping):
        for i, value in enumerate(data):
            found += _non_integers(value, schema["items"], [*path, i])
    return found


def _resolved(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref", "")
    return _schema()["$defs"][ref.split("/")[-1]] if ref.startswith("#/$defs/") else schema


def _is_integer_type(schema: Mapping[str, Any]) -> bool:
    kind = _resolved(schema).get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def _allows_number(schema: Mapping[str, Any]) -> bool:
    kind = _resolved(schema).get("type")
    return kind == "number" or (isinstance(kind, list) and "number" in kind)


def _value_at(data: Any, key_path: list[str | int]) -> Any:
    for part in key_path:
        data = data[part]
    return data


def section(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key (`model`, `datasets.lasher.root`) of a config dict."""
    return _value_at(data, dotted.split("."))


def _dotted(key_path: list[str | int]) -> str:
    return shown(".".join(str(p) for p in key_path)) or "<top level>"


def _known_keys(schema: Mapping[str, Any]) -> set[str]:
    """Property names a (sub)schema allows, following one local $ref."""
    keys = set(schema.get("properties", {}))
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        keys |= set(_schema()["$defs"][ref.split("/")[-1]].get("properties", {}))
    return keys


def _convert(tp: Any, value: Any, key: str) -> Any:
    """Turn a validated YAML value into the annotated type (dataclasses, Path, Optional, Literal)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _convert(hints[f.name], value[f.name], f"{key}.{f.name}" if key else f.name)
            for f in dataclasses.fields(tp)
            if f.name in value
        }
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        non_none = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(non_none[0], value, key)
    if origin is dict:
        _, value_type = typing.get_args(tp)
        return {k: _convert(value_type, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is Path:
        return Path(value)
    if tp is float:
        return float(value)
    if origin is Literal or tp in (int, str, bool) or tp is Any:
        return value
    raise TypeError(f"config field {key}: unsupported annotation {tp!r}")


def _check_cross_fields(cfg: Config) -> None:
    missing = [layer for layer in cfg.study.requires if layer not in cfg.study.provides]
    if missing:
        raise ConfigError(
            f"{_where(cfg.sources, ['study', 'requires'], cfg.overrides)}: study.requires {', '.join(missing)}, which no "
            f"merged layer provides (study.provides: {', '.join(cfg.study.provides) or 'none'}); merge the file that "
            "provides it first: config/paper/common.yaml provides paper-common (snakemake --configfile "
            "config/paper/common.yaml config/paper/<setting>.yaml my-site.yaml)"
        )
    if cfg.method.m_min > cfg.method.m_max:
        raise ConfigError(
            f"{_where(cfg.sources, ['method', 'm_min'], cfg.overrides)}: method.m_min ({cfg.method.m_min}) must not exceed "
            f"method.m_max ({cfg.method.m_max})"
        )
    released = {"rank_method": ("exact", cfg.method.rank_method), "rank_every": (1, cfg.method.rank_every),
                "smoothing": ("window", cfg.method.smoothing)}
    differing = [f"method.{key} to {want!r} (it is {got!r})" for key, (want, got) in released.items() if want != got]
    if cfg.method.bug_compatible and differing:
        raise ConfigError(
            f"{_where(cfg.sources, ['method', 'bug_compatible'], cfg.overrides)}: method.bug_compatible reproduces the released "
            f"code's update, a full sort of the two-step window at every step; set {', '.join(differing)}"
        )
    if cfg.evaluate.epoch is not None and cfg.evaluate.epoch > cfg.train.epochs:
        raise ConfigError(
            f"{_where(cfg.sources, ['evaluate', 'epoch'], cfg.overrides)}: evaluate.epoch {cfg.evaluate.epoch} is after "
            f"the last epoch of tuning (train.epochs {cfg.train.epochs})"
        )
    separate = [m for m in ("rgbt", "rgbd", "rgbe") if getattr(cfg.study.tune_data, m)]
    if cfg.study.tune_data.rgbx and separate:
        # a joint tracker and a per-modality one would both be scored on the same test splits
        raise ConfigError(
            f"{_where(cfg.sources, ['study', 'tune_data', 'rgbx'], cfg.overrides)}: study.tune_data.rgbx (the joint "
            f"RGB-X setting) is set beside per-modality tuning ({', '.join(f'tune_data.{m}' for m in separate)}); "
            "a study tunes one or the other: set those to []"
        )


def method_names() -> frozenset[str]:
    """The regularizers the schema accepts as method.name."""
    return frozenset(_schema()["properties"]["method"]["properties"]["name"]["enum"])


def sweep_label(label: str, sweep: str, value: Any) -> str:
    """The variant a sweep makes of `label` at `value`: `srft_kappa_0p25`, `full_data_2`."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{label}_{sweep}_{text.replace('.', 'p').replace('-', 'm')}"


def sweep_variants(study: StudyConfig) -> dict[str, tuple[str, MethodVariant]]:
    """Every variant the sweeps make, by name, with the sweep that made it: the swept label's method
    and settings plus the swept key at one value."""
    made: dict[str, tuple[str, MethodVariant]] = {}
    for sweep_name, sweep in study.sweeps.items():
        for label in sweep.labels:
            base = study.variants.get(label, MethodVariant(label, {}))
            for value in sweep.values:
                made[sweep_label(label, sweep_name, value)] = (sweep_name, MethodVariant(base.method, {**base.set, sweep.key: value}))
    return made


def all_variants(study: StudyConfig) -> dict[str, MethodVariant]:
    """`study.variants` and the variants the sweeps make."""
    return {**study.variants, **{name: variant for name, (_, variant) in sweep_variants(study).items()}}


def _check_study_methods(cfg: Config, data: Mapping[str, Any]) -> None:
    """Every method the study names is a regularizer or a variant, and every variant's overrides
    give a valid config (so a typo in a sweep fails here, not hours later in one tuning job)."""
    methods = method_names()
    for sweep_name, sweep in cfg.study.sweeps.items():
        unknown = [label for label in sweep.labels if label not in methods and label not in cfg.study.variants]
        if unknown:
            raise ConfigError(f"{_where(cfg.sources, ['study', 'sweeps', sweep_name], cfg.overrides)}: study.sweeps.{sweep_name}: "
                              f"{unknown[0]!r} is neither a method ({', '.join(sorted(methods))}) nor a study.variants entry")
    swept = sweep_variants(cfg.study)
    for name, (sweep_name, _) in swept.items():
        if name in methods or name in cfg.study.variants:
            raise ConfigError(f"{_where(cfg.sources, ['study', 'sweeps', sweep_name], cfg.overrides)}: study.sweeps.{sweep_name} "
                              f"makes the label {name!r}, which is already a method or variant; rename the sweep")
    for name, variant in all_variants(cfg.study).items():
        path = ["study", "sweeps", swept[name][0]] if name in swept else ["study", "variants", name]
        where = _where(cfg.sources, path, cfg.overrides)
        what = f"study.sweeps.{swept[name][0]} ({name})" if name in swept else f"study.variants.{name}"
        if name in methods:
            raise ConfigError(f"{where}: {what} shadows the method of that name; rename it")
        patched = copy.deepcopy(dict(data))
        try:
            for assignment in variant_overrides(variant):
                apply_override(patched, assignment)
            validate_dict(patched, ())
        except ConfigError as err:
            raise ConfigError(f"{where}: {what}: {err}") from None
    listed = [("methods", m) for m in cfg.study.methods]
    listed += [(f"ablations.{mod}", m) for mod, methods in cfg.study.ablations.items() for m in methods]
    for key, name in listed:
        if name not in methods and name not in cfg.study.variants:
            raise ConfigError(f"{_where(cfg.sources, ['study', *key.split('.')], cfg.overrides)}: study.{key}: {name!r} is "
                              f"neither a method ({', '.join(sorted(methods))}) nor a study.variants entry")


def variant_overrides(variant: MethodVariant) -> list[str]:
    """A variant as `--set` assignments: its method, then its overrides (JSON values are valid YAML)."""
    return [f"method.name={variant.method}"] + [f"{k}={json.dumps(v)}" for k, v in variant.set.items()]


def config_from_dict(data: Mapping[str, Any], sources: Iterable[Path] = (), overrides: Iterable[str] = ()) -> Config:
    """Validate a merged config dict and build the typed Config."""
    sources, overrides = tuple(Path(s) for s in sources), tuple(overrides)
    validate_dict(data, sources, overrides)
    cfg = dataclasses.replace(_convert(Config, data, ""), sources=sources, overrides=overrides)
    _check_cross_fields(cfg)
    _check_study_methods(cfg, data)
    return cfg


def load_config_dict(paths: Iterable[Path | str], overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Merge YAML files in order and apply overrides; no validation."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, _read_yaml(Path(path)))
    for assignment in overrides:
        apply_override(merged, assignment)
    return merged


def load_config(paths: Iterable[Path | str] | Path | str, overrides: Iterable[str] = ()) -> Config:
    """Load one or more config files (later ones win), apply overrides, validate, and type them.

    Args:
        paths: YAML files, merged in order; the first is usually config/config.yaml.
        overrides: `dotted.key=value` strings, the value parsed as YAML.

    Raises:
        ConfigError: naming the file, line and key of every problem.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("no config file given (pass --config config/config.yaml)")
    overrides = tuple(overrides)
    return config_from_dict(load_config_dict(paths, overrides), paths, overrides)


def to_plain(value: Any) -> Any:
    """Paths to strings and tuples to lists, recursively: data that YAML and JSON can write."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The plain-data form of a Config (paths as strings), as written next to outputs."""
    data = dataclasses.asdict(cfg)
    data.pop("sources")
    data.pop("overrides")
    return to_plain(data)
