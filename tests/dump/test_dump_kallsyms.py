"""The kallsyms reader (layoutc.dump.read.kallsyms): both table formats, the freed decrypted bss cut
out of the kept bss, and hostile tables refused cleanly and quickly (docs/dumper.md, "The idt_table
page")."""

from __future__ import annotations

import struct
import time

import kallsyms_fixture as kf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump.read import kallsyms
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

BASE, IMAGE = kf.TABLE_VA, kf.IMAGE_VA
SYMS = [*kf.SECTIONS[:1], ("startup_64", "T", IMAGE), *kf.SECTIONS[1:7], ("idt_table", "B", IMAGE + 0x22B4000),
        *kf.SECTIONS[7:]]  # fmt: skip
DECRYPTED = kf.DECRYPTED
memory = kf.memory


def table(fmt: str, syms: list[tuple[str, str, int]] = SYMS) -> tuple[VmcoreInfo, bytearray]:
    extra = [("__per_cpu_start", "A", 0), ("fixed_percpu_data", "A", 0x2000)] if fmt == "6.1" else []
    info, blob = kf.build(syms + extra, BASE, fmt)
    return VmcoreInfo(info), bytearray(blob)


@pytest.mark.parametrize("fmt", ["6.1", "7.2"])
def test_finds_the_section_symbols(fmt: str) -> None:
    info, blob = table(fmt)
    found = kallsyms.lookup(info, memory(bytes(blob)), kallsyms.WANTED + ("idt_table",))
    assert found == {n: a for n, _, a in SYMS if n != "startup_64"}
    assert kallsyms.sections(found)[0] == (IMAGE, IMAGE + 0xE01EF2)
    assert kallsyms.sections(found)[3] == (IMAGE + 0x22B1000, IMAGE + 0x2800000)  # no decrypted bss: all of bss


@pytest.mark.parametrize("fmt", ["6.1", "7.2"])
def test_unused_decrypted_bss_is_cut_out_of_bss(fmt: str) -> None:
    info, blob = table(fmt, SYMS + DECRYPTED)
    found = kallsyms.lookup(info, memory(bytes(blob)))
    assert found["__start_bss_decrypted_unused"] == IMAGE + 0x2603000
    assert kallsyms.sections(found)[3] == (IMAGE + 0x22B1000, IMAGE + 0x2603000)


def test_decrypted_cut_takes_whole_pages_only() -> None:
    """free_reserved_area frees the pages wholly inside the range; a page it only touches stays kept."""
    found = {n: a for n, _, a in SYMS} | {"__start_bss_decrypted_unused": IMAGE + 0x2603010}
    found["__end_bss_decrypted"] = IMAGE + 0x27FF800
    bss = [(IMAGE + 0x22B1000, IMAGE + 0x2604000), (IMAGE + 0x27FF000, IMAGE + 0x2800000)]
    assert kallsyms.sections(found)[3:] == bss


def test_the_decrypted_gap_is_cut_when_the_kernel_names_it() -> None:
    """Kernels that free the alignment gap before .bss..decrypted name it; 6.1 and 7.2 do not."""
    found = {n: a for n, _, a in SYMS + DECRYPTED}
    found |= {"__start_bss_decrypted_gap": IMAGE + 0x2500800, "__start_bss_decrypted": IMAGE + 0x2600000}
    assert kallsyms.sections(found)[3:] == [
        (IMAGE + 0x22B1000, IMAGE + 0x2501000),
        (IMAGE + 0x2600000, IMAGE + 0x2603000),
    ]
    del found["__start_bss_decrypted_gap"]
    assert kallsyms.sections(found)[3:] == [(IMAGE + 0x22B1000, IMAGE + 0x2603000)]


def test_inverted_decrypted_range_is_refused() -> None:
    found = {n: a for n, _, a in SYMS} | {"__start_bss_decrypted_unused": IMAGE + 0x2800000}
    found["__end_bss_decrypted"] = IMAGE + 0x2603000
    with pytest.raises(kallsyms.Refused) as exc:
        kallsyms.sections(found)
    assert str(exc.value) == (
        "__start_bss_decrypted_unused..__end_bss_decrypted is not a range (0xffffffff83800000..0xffffffff83603000)"
    )


def refusal(info: VmcoreInfo, blob: bytes | bytearray) -> str:
    start = time.process_time()
    with pytest.raises(kallsyms.Refused) as exc:
        kallsyms.lookup(info, memory(bytes(blob)))
    assert time.process_time() - start < 2
    return str(exc.value)


def test_huge_count_is_refused() -> None:
    info, blob = table("7.2")
    struct.pack_into("<I", blob, kf.NUM, 0xFFFFFFFF)
    assert "kallsyms_num_syms is 4294967295" in refusal(info, blob)


def test_count_past_the_names_is_refused() -> None:
    """A count far over the records, whose bytes run on (one-token names) up to the token table."""
    info, blob = table("7.2", SYMS[:2])
    struct.pack_into("<I", blob, kf.NUM, kallsyms.MAX_SYMS)
    end = kf.NAMES + sum(1 + len(kf.encode(f"{t}{n}".encode())) for n, t, _ in SYMS[:2])
    blob[end : kf.TABLE] = (b"\x01A" * kf.TABLE)[: kf.TABLE - end]
    assert refusal(info, blob) == f"kallsyms_names runs out at symbol 1531 of {kallsyms.MAX_SYMS}"


def test_token_table_before_the_names_is_refused() -> None:
    info, blob = table("6.1")
    info.raw["SYMBOL(kallsyms_token_table)"] = f"{BASE + kf.NAMES - 8:x}"
    assert refusal(info, blob) == "kallsyms_names is -8 bytes before kallsyms_token_table"


def test_names_not_in_the_dump_are_refused() -> None:
    info, blob = table("7.2")
    whole = memory(bytes(blob))

    def holed(va: int, n: int) -> bytes | None:  # a hole in the names
        return None if va < BASE + 0x900 and va + n > BASE + 0x800 else whole(va, n)

    with pytest.raises(kallsyms.Refused) as exc:
        kallsyms.lookup(info, holed)
    assert str(exc.value) == "kallsyms_names at 0xffffffff82000400 (3072 bytes) is not in the dump"


def test_token_index_into_an_unterminated_run_is_refused() -> None:
    info, blob = table("6.1")
    struct.pack_into("<256H", blob, kf.INDEX, *([0x100] * 256))
    blob[kf.TABLE + 0x100 : kf.INDEX] = b"\x07" * (kf.INDEX - kf.TABLE - 0x100)
    assert "not terminated" in refusal(info, blob)


def test_token_index_far_out_is_refused() -> None:
    info, blob = table("6.1")
    struct.pack_into("<H", blob, kf.INDEX + 2 * 7, 0xFFFF)
    assert "token table" in refusal(info, blob)


def test_overlong_name_is_refused() -> None:
    info, blob = table("7.2")
    blob[kf.NAMES : kf.NAMES + 2] = b"\xff\xff"
    assert refusal(info, blob) == "symbol 0 is 32767 tokens long"


def test_zero_length_names_loop_is_refused() -> None:
    info, blob = table("7.2")
    blob[kf.NAMES : kf.INDEX] = bytes(kf.INDEX - kf.NAMES)
    assert refusal(info, blob) == "symbol 0 is an empty name"


def test_missing_symbol_and_inverted_sections_are_refused() -> None:
    info, blob = table("7.2", [s for s in SYMS if s[0] != "__bss_stop"])
    assert "lacks __bss_stop" in refusal(info, blob)
    swapped = [(n, t, IMAGE + 0x100 if n == "_etext" else a) for n, t, a in SYMS]
    info, blob = table("6.1", [(n, t, a) for n, t, a in swapped if n != "_stext"] + [("_stext", "T", IMAGE + 0x200)])
    found = kallsyms.lookup(info, memory(bytes(blob)))
    with pytest.raises(kallsyms.Refused, match="_stext.._etext is not a section"):
        kallsyms.sections(found)


def test_missing_keys_are_refused() -> None:
    info, blob = table("7.2")
    del info.raw["SYMBOL(kallsyms_offsets)"]
    assert refusal(info, blob) == "VMCOREINFO lacks SYMBOL(kallsyms_offsets)"


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(["6.1", "7.2"]),
    edits=st.lists(st.tuples(st.integers(0, kf.SIZE - 1), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_any_corrupted_table_gives_addresses_or_a_refusal(fmt: str, edits: list[tuple[int, int]]) -> None:
    """Bytes of the count, offsets, names, token index or token table overwritten at random."""
    info, blob = table(fmt)
    for at, value in edits:
        blob[at] = value
    try:
        found = kallsyms.lookup(info, memory(bytes(blob)))
    except kallsyms.Refused as exc:
        assert str(exc)
        return
    assert set(kallsyms.WANTED) <= set(found)
