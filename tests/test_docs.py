"""Everything a user can name is documented: every rule id, data source, output format, delivery channel and
configuration key appears in README.md, docs/, CONTRIBUTING.md or (config keys) config/auditor.example.yaml.

Names are matched as written in the docs: inside backticks in Markdown (`stale-admin`, `email.smtp.host`),
or as a YAML key (``key:``, commented-out examples included) in the example configuration. The lists come
from the registries and the pydantic models, so a new rule, source, format, channel or key fails here until
it is documented.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from auditor.config import AuditorConfig
from auditor.deliver.registry import known_channels
from auditor.render import registry as renderers
from auditor.rules import REGISTRY
from auditor.sources import SOURCES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "auditor.example.yaml"


def _markdown() -> str:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages if p.is_file())


MARKDOWN = _markdown()
YAML = EXAMPLE.read_text(encoding="utf-8")


def in_markdown(name: str) -> bool:
    """``name`` as a whole word inside one backtick span of the Markdown docs."""
    return re.search(rf"`[^`\n]*(?<![\w-]){re.escape(name)}(?![\w-])[^`\n]*`", MARKDOWN) is not None


def in_example(key: str) -> bool:
    """``key`` as a YAML key of the example configuration (also in a commented-out line)."""
    return re.search(rf"(?<![\w-]){re.escape(key)}:", YAML) is not None


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def config_keys(model: type[BaseModel] = AuditorConfig, prefix: str = "") -> Iterator[str]:
    """Every key of the configuration file as a dotted path (``email.smtp.host``), walking nested models
    through lists, dicts and optionals (``tenants``' items, ``rules``' values)."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path
        for sub in _models(info.annotation):
            yield from config_keys(sub, f"{path}.")


def rule_params() -> list[str]:
    return sorted({p for spec in REGISTRY.values() for p in spec.params})


def test_the_walk_finds_nested_keys() -> None:
    keys = set(config_keys())
    assert {"tenants.cloud", "email.smtp.host", "rules.params", "waivers.approved_by"} <= keys
    assert len(keys) > 50


@pytest.mark.parametrize("rule_id", list(REGISTRY))
def test_every_rule_is_documented(rule_id: str) -> None:
    assert in_markdown(rule_id), f"rule {rule_id} is not named in README.md / docs/"


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_data_source_is_documented(name: str) -> None:
    assert in_markdown(name), f"data source {name} is not named in README.md / docs/"


@pytest.mark.parametrize("fmt", renderers.formats())
def test_every_output_format_is_documented(fmt: str) -> None:
    assert in_markdown(fmt), f"output format {fmt} is not named in README.md / docs/"


@pytest.mark.parametrize("name", sorted(known_channels()))
def test_every_delivery_channel_is_documented(name: str) -> None:
    assert in_markdown(name), f"delivery channel {name} is not named in README.md / docs/"


@pytest.mark.parametrize("path", sorted(set(config_keys())))
def test_every_config_key_is_documented(path: str) -> None:
    leaf = path.rsplit(".", 1)[-1]
    assert in_example(leaf) or in_markdown(path) or in_markdown(leaf), (
        f"config key {path} is neither in config/auditor.example.yaml nor named in README.md / docs/"
    )


@pytest.mark.parametrize("param", rule_params())
def test_every_rule_parameter_is_documented(param: str) -> None:
    assert in_example(param) or in_markdown(param), f"rule parameter {param} is not documented"


def test_the_check_fails_on_an_undocumented_name() -> None:
    assert not in_markdown("no-such-rule-anywhere") and not in_example("no_such_key_anywhere")
    assert in_markdown("stale-admin") and in_example("keep_runs")
