"""The reference pages cannot drift from the code.

docs/study-file.md: its TOML blocks hold every key a study file may set, with the defaults and
ranges that specs.py declares, and nothing the parser refuses. Each ```toml block of the page is
parsed with tomllib; a key is documented live (`key = value`: its default) or, where it has no
default, as a comment (`# key = example`).

docs/outputs.md: its table of results.csv holds every column of record.Record, in order."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from featuretransfer.record import COLUMNS
from featuretransfer.specs import (
    DataSpec,
    NetSpec,
    ReportSpec,
    ResourceSpec,
    TrainSpec,
    range_text,
)
from featuretransfer.study.source import SOURCE_KEYS
from featuretransfer.study.studyfile import load_study
from featuretransfer.study.studyspec import DERIVED, StudyError, StudySpec, VolumeSpec

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "study-file.md"
SPECS = {
    "data": DataSpec,
    "model": NetSpec,
    "train": TrainSpec,
    "resources": ResourceSpec,
    "report": ReportSpec,
}
# Spec fields a study file sets through a key of another name: NetSpec.path is model.file
# resolved against the study file's folder.
SET_THROUGH = {("model", "path"): "file"}
# What a [[splits]] entry may hold beside its own [study] keys (study/sections.py split_of): seed
# (random halves), groups (built in), name + A + B (your own), kind.
SPLIT_KEYS = {"seed", "groups", "name", "A", "B", "kind"}
NOT_A_KEY = "zz_not_a_key"


def toml_blocks() -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def documented() -> dict[str, dict]:
    """section -> {"live": {key: value}, "commented": {keys}, "lines": {key: its line}}; the
    top level's keys are the section "". Every section is in one block only."""
    found: dict[str, dict] = {}
    for i, block in enumerate(toml_blocks()):
        parsed = tomllib.loads(block)  # a block that is not valid TOML fails here
        section = ""
        for line in block.splitlines():
            if header := re.match(r"^\[\[?(\w+)\]\]?", line):
                section = header.group(1)
            entry = found.setdefault(
                section, {"live": {}, "commented": set(), "lines": {}, "block": i}
            )
            assert entry["block"] == i, f"[{section or 'top level'}] is in two blocks"
            if key := re.match(r"^(\w+)\s*=", line):
                entry["lines"][key.group(1)] = line
            elif key := re.match(r"^#\s*(\w+)\s*=", line):
                entry["commented"].add(key.group(1))
        for name, value in parsed.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                merged = {}  # [[splits]]: the keys of every entry
                for table in value:
                    merged |= table
                found[name]["live"] |= merged
            elif isinstance(value, dict):
                found[name]["live"] |= value
            else:
                found[""]["live"][name] = value
    return found


def keys(entry: dict) -> set[str]:
    return set(entry["live"]) | entry["commented"]


def accepted(tmp_path: Path, section: str) -> set[str]:
    """The keys the study-file parser accepts in `section` ("" for the top level), read from
    the error it gives for an unknown key (before it reads any data)."""
    table = f"[{section}]\n" if section else ""
    path = tmp_path / "study.toml"
    path.write_text(f'name = "x"\n{table}{NOT_A_KEY} = 1\n')
    with pytest.raises(StudyError, match=f"unknown key.*{NOT_A_KEY}") as error:
        load_study(path, device=None)
    return set(str(error.value).split("allowed: ")[1].split(", "))


def derived(section: str, f: dataclasses.Field) -> bool:
    """A field the tool computes, never set in a study file (specs.setting's free text)."""
    free = f.metadata.get("range", {}).get("free", "")
    return free.startswith("derived") or f"{section}.{f.name}" in DERIVED


def settable(section: str) -> set[str]:
    """The keys of a spec's section: its fields, less those the tool derives."""
    names = set()
    for f in dataclasses.fields(SPECS[section]):
        if not derived(section, f):
            names.add(SET_THROUGH.get((section, f.name), f.name))
    return names


def plain(value):
    """A default or a TOML value in one form: tuples and tables as lists, () == [] == {}."""
    if isinstance(value, dict):
        value = sorted(value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def test_every_toml_block_parses_and_every_section_is_documented(tmp_path):
    found = documented()
    assert found, f"no TOML blocks in {DOC}"
    sections = {name for name in found if name} | set(found[""]["live"])
    assert sections == accepted(tmp_path, ""), "the top-level keys and sections differ"


@pytest.mark.parametrize("section", sorted(SPECS))
def test_spec_sections_hold_every_key_with_its_default_and_range(section):
    entry = documented()[section]
    assert keys(entry) == settable(section), f"[{section}] keys differ from specs.py's fields"
    fields = {f.name: f for f in dataclasses.fields(SPECS[section])}
    for key in keys(entry):
        f = fields.get(key)
        if key not in entry["live"]:  # only a key without a default may be a comment
            assert f is None or f.default is None, f"{section}.{key}: write its default"
            continue
        assert f is not None, f"{section}.{key} has no default: write it as a comment"
        value, default = entry["live"][key], f.default
        assert isinstance(value, bool) == isinstance(default, bool), f"{section}.{key}"
        assert plain(value) == plain(default), f"{section}.{key} = {value!r}, default {default!r}"
        rule = {k: v for k, v in f.metadata["range"].items() if k != "free"}
        if rule:  # the range as the error message words it, on the key's own line
            assert range_text(rule) in entry["lines"][key], f"{section}.{key}: {range_text(rule)}"


@pytest.mark.parametrize("section", ["data", "model", "train", "study"])
def test_sections_hold_what_the_parser_accepts(tmp_path, section):
    assert keys(documented()[section]) == accepted(tmp_path, section), f"[{section}]"


def test_study_defaults_are_the_study_specs():
    entry = documented()["study"]
    defaults = {f.name: f.default for f in dataclasses.fields(StudySpec)}
    for key, value in entry["live"].items():
        assert plain(value) == plain(defaults[key]), f"study.{key}"


def test_splits_volume_and_source_hold_their_keys(tmp_path):
    found = documented()
    own = accepted(tmp_path, "study") - {"convergence"}  # a split's own run, as [study]'s
    assert keys(found["splits"]) == SPLIT_KEYS | own, "[[splits]]"
    assert keys(found["volume"]) == {f.name for f in dataclasses.fields(VolumeSpec)}, "[volume]"
    assert keys(found["source"]) == set(SOURCE_KEYS), "[source]"


def test_the_results_columns_are_record_columns():
    text = (DOCS / "outputs.md").read_text(encoding="utf-8")
    table = text.split("\n## results.csv\n", 1)[1].split("\n## ", 1)[0]
    documented_columns = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert documented_columns == list(COLUMNS), "outputs.md's results.csv table"


ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(page):
    """A link to a file of the repository (README -> docs, docs -> figures) names a real file."""
    links = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:|#", link)]
    missing = [link for link in local if link and not (page.parent / link).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"
