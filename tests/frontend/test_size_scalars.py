"""Any YAML scalar in any size or address field gives a typed profile or a diagnostic, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile

from ..conftest import REPO

BASE = yaml.safe_load((REPO / "profiles" / "qemu" / "qemu-4g.yaml").read_text())
MARK = "@@value@@"

# Every size/address field of the profile schema (dotted paths into the qemu-4g profile).
FIELDS = (
    ("memory", "block_size"), ("memory", "map", 3, "start"), ("memory", "map", 3, "end"),
    ("memory", "map", 6, "end"), ("memory", "early_reserved", "0"), ("kernel", "image_size"),
    ("crash", "reserve"), ("crash", "kernel_size"), ("crash", "initrd_size"), ("window", "size"),
    ("window", "devdax_align"), ("pins", "window_base"), ("pins", "crashkernel_offset"), ("pins", "movablecore"),
)
TOKENS = ("1.0", "1.0e+3", "2.0", "-0.0", "1e3", ".inf", "-.inf", ".nan", "0", "0x0", "1E", "16E", "4P", "0E",
          "-1", "+1", "1_000", "0o17", "0b101", "012", "12Q", "auto", "~", "null", "true", "''", "'1G'",
          "0x10000000000000", "0x10000000000001", "18446744073709551616", "4096", "128M", "1G", "3%", "100%",
          "101%", "[1]", "{a: 1}")
scalars = st.one_of(
    st.sampled_from(TOKENS),
    st.integers(min_value=-(1 << 70), max_value=1 << 70).map(str),
    st.floats(allow_nan=True, allow_infinity=False).map(repr),
    st.tuples(st.integers(min_value=0, max_value=1 << 20), st.sampled_from("KMGTPE")).map(lambda t: f"{t[0]}{t[1]}"),
)


def _document(field: tuple[str | int, ...]) -> str:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.setdefault("pins", {})
    data["memory"].setdefault("early_reserved", {})
    node = data
    for part in field[:-1]:
        node = node[part]
    node[field[-1]] = MARK
    return yaml.safe_dump(data, sort_keys=False)


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(FIELDS), scalar=scalars)
def test_any_scalar_in_a_size_field_is_a_profile_or_a_diagnostic(tmp_path_factory: pytest.TempPathFactory,
                                                                  field: tuple[str | int, ...], scalar: str) -> None:
    text = _document(field).replace(f"'{MARK}'", scalar)
    path = tmp_path_factory.mktemp("p") / "p.yaml"
    path.write_text(text)
    diags = Diagnostics()
    profile = load_profile(path, "p.yaml", diags)
    assert profile is not None or diags.has_errors, text
    for d in diags.items:
        assert d.code.startswith("LC") and d.span is not None and d.message


@pytest.mark.parametrize("scalar", ["1.0", "1.0e+3", "2.0", "-0.0"])
def test_integer_valued_floats_are_lc105(tmp_path: Path, scalar: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_document(("crash", "kernel_size")).replace(f"'{MARK}'", scalar))
    diags = Diagnostics()
    assert load_profile(path, "p.yaml", diags) is None
    [diag] = diags.items
    assert diag.code == "LC105"
    assert "write an integer (4096, 0x10000000) or a kernel size string like 1G" in diag.message
