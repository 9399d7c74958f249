"""The crash kernel's tree edit: the document, applying it to QEMU's trees, verifying, and the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from layoutc.devicetree import (
    Edit,
    EditError,
    Node,
    PmemRegion,
    Property,
    Tree,
    apply,
    edit_from_json,
    parse,
    serialize,
    verify,
)
from layoutc.devicetree.__main__ import main
from layoutc.devicetree.edit import apply_to_tree

from ..conftest import REPO
from .conftest import qemu_dtb

SCHEMA = json.loads((REPO / "schemas/devicetree-edit/v1/devicetree-edit.schema.json").read_text())
NODE0 = {"schema_version": 1, "pmem_regions": [{"base": "0x128000000", "size": "0x10000000", "volatile": True}]}
NODE1 = {"schema_version": 1, "remove_seeds": True,
         "pmem_regions": [{"base": "0x228000000", "size": "0x10000000", "volatile": True, "numa_node_id": 1}]}


def test_a_document_reads_and_writes_back() -> None:
    edit = edit_from_json(NODE1)
    assert edit == Edit((PmemRegion(0x228000000, 0x10000000, True, 1),), True)
    assert edit.to_json() == NODE1
    assert edit_from_json(NODE0).remove_seeds is True


def _bad(change: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(NODE1)
    region = doc["pmem_regions"][0]
    for key, value in change.items():
        target = region if key in ("base", "size", "volatile", "numa_node_id", "extra") else doc
        if value is None:
            del target[key]
        else:
            target[key] = value
    return doc


BAD = [
    ({"schema_version": 2}, "schema_version"),
    ({"schema_version": True}, "schema_version"),
    ({"pmem_regions": []}, "1 to 16"),
    ({"pmem_regions": "x"}, "1 to 16"),
    ({"pmem_regions": [NODE0["pmem_regions"][0]] * 17}, "1 to 16"),  # type: ignore[index]
    ({"base": 5}, "hexadecimal"),
    ({"base": "0x"}, "hexadecimal"),
    ({"base": "0x" + "f" * 17}, "hexadecimal"),
    ({"base": "12"}, "hexadecimal"),
    ({"size": "0x0"}, "empty"),
    ({"base": "0xffffffffffffffff"}, "ends past"),
    ({"volatile": "yes"}, "true or false"),
    ({"volatile": None}, "missing keys"),
    ({"numa_node_id": -1}, "numa_node_id"),
    ({"numa_node_id": True}, "numa_node_id"),
    ({"numa_node_id": 0xFFFFFFFF}, "numa_node_id"),
    ({"extra": 1}, "unknown keys"),
    ({"remove_seeds": 1}, "remove_seeds"),
    ({"bootargs": "x"}, "unknown keys"),
    ({"pmem_regions": [{"base": "0x1000", "size": "0x2000", "volatile": True},
                       {"base": "0x2000", "size": "0x1000", "volatile": False}]}, "overlap"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD)
def test_a_bad_document_is_refused_by_python_and_by_the_schema(change: dict[str, Any], message: str) -> None:
    doc = _bad(change)
    with pytest.raises(EditError, match=message):
        edit_from_json(doc)
    if message not in ("overlap", "empty", "ends past", "numa_node_id") or change.get("numa_node_id") is True:
        assert list(Draft202012Validator(SCHEMA).iter_errors(doc)), "the schema accepts what Python refuses"


def test_good_documents_pass_the_schema() -> None:
    for doc in (NODE0, NODE1, edit_from_json(NODE1).to_json()):
        assert not list(Draft202012Validator(SCHEMA).iter_errors(doc))
    with pytest.raises(EditError, match="expected an object"):
        edit_from_json([])


def test_apply_to_the_numa_tree() -> None:
    edit = edit_from_json(NODE1)
    out = apply(qemu_dtb("virt-8G-numa2"), edit)
    tree = parse(out)
    node = tree.find("/pmem@228000000")
    assert node is not None and node.string("compatible") == "pmem-region"
    assert tree.reg("/pmem@228000000") == ((0x228000000, 0x10000000),)
    assert node.prop("volatile") == b"" and node.u32("numa-node-id") == 1
    assert tree.root.children[-1] is node  # appended after every existing node
    chosen = tree.find("/chosen")
    assert chosen is not None and not chosen.has("kaslr-seed") and not chosen.has("rng-seed")
    assert chosen.has("stdout-path")
    assert verify(out, edit) == []
    assert apply(out, edit) == out  # applying twice changes nothing


def test_verify_says_what_is_missing() -> None:
    edit = edit_from_json(NODE1)
    problems = verify(qemu_dtb("virt-8G-numa2"), edit)
    assert problems == ["/pmem@228000000 is missing", "/chosen/kaslr-seed is still present",
                        "/chosen/rng-seed is still present"]  # fmt: skip
    assert verify(b"junk", edit) == ["a DTB has a 40-byte header; this is 4 bytes (at byte 0x0)"]


def test_a_window_in_a_numa_node_needs_that_node_id() -> None:
    wrong = _bad({"numa_node_id": 0})
    with pytest.raises(EditError, match="lies in /memory@140000000 of NUMA node 1 but has numa-node-id 0"):
        apply(qemu_dtb("virt-8G-numa2"), edit_from_json(wrong))
    with pytest.raises(EditError, match="numa-node-id None"):
        apply(qemu_dtb("virt-8G-numa2"), edit_from_json(_bad({"numa_node_id": None})))
    # a single-node tree has no numa-node-id on its memory: none needed, one given is kept
    out = apply(qemu_dtb("virt-4G"), edit_from_json(NODE0))
    assert not parse(out).find("/pmem@128000000").has("numa-node-id")  # type: ignore[union-attr]


def test_seeds_are_kept_when_asked() -> None:
    doc = dict(NODE0, remove_seeds=False)
    chosen = parse(apply(qemu_dtb("virt-4G"), edit_from_json(doc))).find("/chosen")
    assert chosen is not None and chosen.has("kaslr-seed") and chosen.has("rng-seed")


def _tree(*children: Node, cells: int = 2) -> bytes:
    props = (Property.u32("#address-cells", cells), Property.u32("#size-cells", cells))
    return serialize(Tree(Node("", props, children)))


def test_refusals_on_the_tree() -> None:
    edit = edit_from_json(NODE0)
    with pytest.raises(EditError, match="does not fit in 1 cell"):
        apply(_tree(cells=1), edit)
    with pytest.raises(EditError, match="is not a pmem-region"):
        apply(_tree(Node("pmem@128000000", (Property.string("compatible", "other"),))), edit)
    old = Node("pmem@120000000", (Property.string("compatible", "pmem-region"),
                                   Property("reg", bytes.fromhex("00000001 20000000 00000000 10000000"))))  # fmt: skip
    with pytest.raises(EditError, match="overlaps the existing pmem-region /pmem@120000000"):
        apply(_tree(old), edit)
    replaced = Node("pmem@128000000", (Property.string("compatible", "pmem-region"), Property("reg", bytes(16))))
    tree = parse(apply(_tree(replaced), edit))
    assert tree.reg("/pmem@128000000") == ((0x128000000, 0x10000000),)  # an older window of that name is replaced
    assert apply_to_tree(parse(_tree()), edit).find("/chosen") is None  # no /chosen: nothing to strip


def test_cli_apply_verify_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out, doc = tmp_path / "in.dtb", tmp_path / "out.dtb", tmp_path / "edit.json"
    source.write_bytes(qemu_dtb("virt-8G-numa2"))
    doc.write_text(json.dumps(NODE1))
    assert main(["verify", str(doc), str(source)]) == 1
    assert "is missing" in capsys.readouterr().err
    assert main(["apply", str(doc), str(source), str(out)]) == 0
    assert out.read_bytes() == apply(source.read_bytes(), edit_from_json(NODE1))
    assert main(["verify", str(doc), str(out)]) == 0
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\tpmem@228000000 {\n\t\tcompatible = \"pmem-region\";\n\t\treg = <0x02 0x28000000 0x00 0x10000000>;\n" \
           "\t\tvolatile;\n\t\tnuma-node-id = <0x01>;\n\t};\n" in text
    assert text.startswith("/dts-v1/;\n") and "seed" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.json", "in.dtb", "out.dtb"]  # no temporary left


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["apply"], 2, ""),
        (["nonsense"], 2, ""),
        (["show", "{missing}"], 1, "No such file"),
        (["show", "{edit}"], 1, "bad magic"),
        (["apply", "{dtb}", "{dtb}", "{out}"], 1, "larger than 65536 bytes"),
        (["apply", "{junk}", "{dtb}", "{out}"], 1, "not JSON"),
        (["apply", "{bad_edit}", "{dtb}", "{out}"], 1, "schema_version"),
        (["apply", "{edit}", "{edit}", "{out}"], 1, "bad magic"),
        (["apply", "{numa0}", "{dtb}", "{out}"], 1, "NUMA node 1"),
    ],
)
def test_cli_errors_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                                  message: str) -> None:  # fmt: skip
    files = {"dtb": tmp_path / "in.dtb", "edit": tmp_path / "e.json", "bad_edit": tmp_path / "bad.json",
             "numa0": tmp_path / "n0.json", "out": tmp_path / "out.dtb", "missing": tmp_path / "missing",
             "junk": tmp_path / "junk"}  # fmt: skip
    files["dtb"].write_bytes(qemu_dtb("virt-8G-numa2"))
    files["edit"].write_text(json.dumps(NODE1))
    files["bad_edit"].write_text(json.dumps(dict(NODE1, schema_version=9)))
    files["numa0"].write_text(json.dumps(_bad({"numa_node_id": 0})))
    files["junk"].write_bytes(b"\xff\xfe{")
    assert main([a.format(**{k: str(v) for k, v in files.items()}) for a in argv]) == code
    assert message in capsys.readouterr().err
    assert not files["out"].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "e.json", "in.dtb", "junk", "n0.json"]
