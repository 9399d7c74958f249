"""filter.json: valid against the filter-spec schema (jsonschema and the dumper's stdlib loader), an
honest byte budget (checked against mke2fs itself), and its makedumpfile translation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from layoutc.dump import filter_spec as dumpspec
from layoutc.model import layout_json
from layoutc.model.profile import Compression, DumpFormat, ExcludeRange
from layoutc.render import device_filter as df

from ..conftest import REPO
from .helpers import CASES, artifacts, layout, profile, tool

SCHEMA = json.loads((REPO / "schemas/filter-spec/v1/filter-spec.schema.json").read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_filter_spec_is_valid(name: str) -> None:
    text = artifacts(profile(name), layout(name))["device/filter.json"].decode()
    data = json.loads(text)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    loaded = dumpspec.loads(text, "filter.json")  # what the dumper runs in the crash kernel
    assert loaded.dump_level == 31
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n", "serialized, not templated"


def test_window_spec_excludes_the_window_not_crash_memory() -> None:
    doc = layout("qemu-4g-cma")
    spec = df.filter_spec(profile("qemu-4g-cma"), layout_json.read(doc))
    reasons = {r["reason"] for r in spec["exclude"]}
    assert reasons == {"dump_window"}
    # neither the crash reservation nor the crash CMA ranges: /proc/vmcore never holds them (the kernel
    # leaves them out of the elfcorehdr), and the kernel places both itself (KASLR, CMA bottom-up from 4G):
    # excluding the layout's predicted ranges would drop whatever really lives there
    assert any(r["kind"] == "crash_cma" for r in doc["regions"]), "the layout still predicts crash CMA"
    window = doc["dump_window"]
    assert spec["exclude"] == [{"start": window["start"], "end": window["end"], "reason": "dump_window"}]
    assert "(dump_window)" in spec["makedumpfile"]["note"]
    assert 0 < spec["budget"] < window["size"]


def test_disk_cma_spec_excludes_nothing() -> None:
    doc = layout("server-64g-2node")
    assert any(r["kind"] == "crash_cma" for r in doc["regions"])
    spec = df.filter_spec(profile("server-64g-2node"), layout_json.read(doc))
    assert spec["exclude"] == []
    assert "(none)" in spec["makedumpfile"]["note"]
    jsonschema.Draft202012Validator(SCHEMA).validate(spec)


def test_profile_may_still_exclude_a_crash_cma_range() -> None:
    """A user who lists the crash CMA range in dump.exclude gets it (it is absent from /proc/vmcore anyway;
    the dumper copes with ranges the source lacks: tests/dump/test_dump_cli.py)."""
    base = profile("qemu-4g-cma")
    (cma,) = [r for r in layout("qemu-4g-cma")["regions"] if r["kind"] == "crash_cma"]
    prof = dataclasses.replace(base, dump=dataclasses.replace(
        base.dump, exclude=(ExcludeRange(cma["start"], cma["end"], "crash-cma"),)))
    spec = df.filter_spec(prof, layout_json.read(layout("qemu-4g-cma")))
    assert spec["exclude"][0] == {"start": cma["start"], "end": cma["end"], "reason": "crash_cma"}
    assert [r["reason"] for r in spec["exclude"]] == ["crash_cma", "dump_window"]
    jsonschema.Draft202012Validator(SCHEMA).validate(spec)
    dumpspec.loads(df.serialize(spec).decode(), "filter.json")


def test_disk_spec_has_no_budget() -> None:
    spec = df.filter_spec(profile("server-64g-2node"), layout_json.read(layout("server-64g-2node")))
    assert spec["budget"] is None
    assert spec["makedumpfile"]["args"] == ["-d", "31", "-z"]


def test_profile_excludes_and_drop_order() -> None:
    base = profile("qemu-4g")
    prof = dataclasses.replace(base, dump=dataclasses.replace(
        base.dump, level=1, compression=Compression.NONE, format=DumpFormat.ELF,
        exclude=(ExcludeRange(0x7000000, 0x7100000, "ramoops-area"),)))
    spec = df.filter_spec(prof, layout_json.read(layout("qemu-4g")))
    assert {"start": 0x7000000, "end": 0x7100000, "reason": "ramoops_area"} in spec["exclude"]
    assert spec["drop_order"][:4] == ["free", "cache", "cache_private", "user"]
    assert all(isinstance(d, str) or d["reason"] == "movable" for d in spec["drop_order"])
    assert spec["makedumpfile"]["args"][:3] == ["-d", "1", "-E"]
    jsonschema.Draft202012Validator(SCHEMA).validate(spec)


@pytest.mark.parametrize(("compression", "flag"), [("zlib", "-c"), ("zstd", "-z"), ("snappy", "-p"),
                                                   ("none", None)])
def test_makedumpfile_compression(compression: str, flag: str | None) -> None:
    args = df.makedumpfile_args(31, compression, "kdump", 1 << 20)
    assert args[:2] == ["-d", "31"] and args[-2:] == ["-L", str(1 << 20)]
    assert (flag in args) if flag else len(args) == 4


def _mke2fs_free(tmp: Path, size: int) -> tuple[int, int]:
    image = tmp / f"w{size}.img"
    with open(image, "wb") as f:
        f.truncate(size)
    subprocess.run([tool("mke2fs"), *df.MKFS_ARGS, str(image)], check=True, capture_output=True)
    out = subprocess.run([tool("dumpe2fs"), "-h", str(image)], check=True, capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    image.unlink()
    return int(fields["Block count"]), int(fields["Free blocks"])


@pytest.mark.parametrize("size", [64 << 20, (128 << 20) + (80 << 10), 270532608, (1 << 30) + (2 << 20),
                                  2050 << 20, (8 << 30) + (2 << 20)])
def test_ext4_overhead_matches_mke2fs(tmp_path: Path, size: int) -> None:
    blocks, free = _mke2fs_free(tmp_path, size)
    model = df.ext4_overhead(size)
    assert (model.blocks, model.blocks - model.metadata_blocks) == (blocks, free)


def test_budget_really_fits(tmp_path: Path) -> None:
    """A vmcore of exactly the budget plus the small files fit a filesystem made as capture.sh makes it."""
    mke2fs = tool("mke2fs")
    size = layout("qemu-4g")["dump_window"]["size"]
    budget = df.window_budget(size)
    content = tmp_path / "content"
    content.mkdir()
    block = bytes(range(256)) * 4096  # 1 MiB, non-zero: every block is allocated
    with open(content / "vmcore", "wb") as f:
        for _ in range(budget // len(block)):
            f.write(block)
        f.write(block[: budget % len(block)])
    (content / "vmcore-dmesg.txt").write_bytes(b"x" * (4 << 20))
    for name in ("SHA256SUMS", "COMPLETE", "INCOMPLETE"):
        (content / name).write_text("x" * 200)
    image = tmp_path / "window.img"
    with open(image, "wb") as f:
        f.truncate(size)
    result = subprocess.run([mke2fs, *df.MKFS_ARGS, "-d", str(content), str(image)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
