"""Property: hostile text in any profile field that reaches an output never breaks or runs anything.

Every field is drawn from shell, GRUB and unit-file metacharacters (newlines, quotes, ``#``, ``;``,
``$``, backticks, braces, backslashes, non-ASCII): the profile's file name (the header of every
output), description, kernel.cmdline, crash.cmdline and the recovery upload command. For each
profile the front end accepts, every generated file passes its checker -- ``sh -n`` and shellcheck
for shell, ``grub-script-check`` for GRUB -- the BLS, kernel-install, mkosi and cmdline files keep
their line structure, the GRUB words are the kernel's parameters, and running
45_layoutc_recovery or sourcing layoutc.cfg never creates the marker file. Examples come in
batches so each checker runs once per batch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.kernel import cmdline as kcmd
from layoutc.kernel.params import parse_args
from layoutc.render import render_all
from layoutc.render.device import device_artifacts
from layoutc.solve import solve

from ..conftest import REPO
from .helpers import tool

MARKER = "PWNED"
PIECES = ["\n", '"', "'", "#", ";", "$", "`", "{", "}", "\\", " ", "|", "&", "%h", "!", "--", "\u00e9",
          "\u00a0", "\u2028", f"$(touch {MARKER})", f"`touch {MARKER}`", f"; touch {MARKER} #", "memmap=1G!4G",
          'o="a b"', "console=ttyS0", "quiet", "x"]
# what the front end accepts in a cmdline: metacharacters of sh and GRUB, whole-word double quotes
CMDLINE_PIECES = [p for p in PIECES if not set(p) & set("\n'\\\u00e9\u00a0\u2028") and p not in ('"', "--")]
hostile = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
accepted_cmdline = st.lists(st.sampled_from(CMDLINE_PIECES), max_size=6).map(" ".join)
file_names = hostile.map(lambda s: s.replace("/", "_").replace("\0", "") + ".yaml")
profiles = st.fixed_dictionaries({
    "file": file_names,
    "description": hostile.map(lambda s: s.replace("\n", "")) | hostile,
    "kernel": accepted_cmdline | accepted_cmdline | hostile,
    "crash": accepted_cmdline | accepted_cmdline | hostile,
    "upload": hostile,
})
BATCH = 8


def _write(tmp: Path, index: int, fields: dict[str, str]) -> Path:
    folder = tmp / f"p{index}"
    folder.mkdir()
    (folder / "qemu-4g.yaml").write_text((REPO / "profiles/qemu/qemu-4g.yaml").read_text())
    body = ("schema_version: 1\nextends: qemu-4g.yaml\nboard: hostile\n"
            f"description: {json.dumps(fields['description'])}\n"
            f"kernel: {{cmdline: {json.dumps(fields['kernel'])}}}\n"
            f"crash: {{cmdline: {json.dumps(fields['crash'])}}}\n"
            f"recovery: {{upload: [/usr/bin/upload, {json.dumps(fields['upload'])}]}}\n")
    path = folder / (fields["file"] if fields["file"] != ".yaml" else "a.yaml")
    path.write_text(body)
    return path


def _outputs(path: Path) -> dict[str, bytes] | None:
    """Every output of an accepted profile; None when the front end or the solver refuses it (with a diagnostic)."""
    diags = Diagnostics()
    prof = load_profile(path, path.name, diags)
    if prof is None:
        assert diags.has_errors
        return None
    layout = solve(prof, diags)
    if layout is None:
        assert diags.has_errors
        return None
    files = {a.relpath: a.content for a in render_all(layout)}
    files |= {a.relpath: a.content for a in device_artifacts(prof, layout)}
    return files


def _check_line_files(files: dict[str, bytes], board_cmdline: str) -> None:
    words = kcmd.kernel_text(board_cmdline)
    for rel, content in files.items():
        text = content.decode()
        if rel.startswith("cmdline/") or rel == "kernel-install/cmdline":
            assert text.count("\n") <= 1, rel
        if rel.startswith("bls/"):
            assert [x.split(" ", 1)[0] for x in text.splitlines()] == ["#", "title", "linux", "initrd", "options"]
            assert text.splitlines()[4].startswith(f"options {words}"), text
        if rel.startswith("mkosi/"):
            assert len(text.splitlines()) == 4, text


def _sh_words(args: str, cwd: Path) -> list[str]:
    """GRUB reads quotes, a word-leading '#' and ';' like sh (grub-core/script/yylex.l)."""
    out = subprocess.run(["sh", "-c", f"set -- {args}; printf '%s\\n' \"$@\""], cwd=cwd, capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


def _check_grub(folder: Path, board_cmdline: str, recovery: str, production: str, work: Path) -> str:
    """Run the two GRUB files as grub-mkconfig would; the GRUB text they produce, for grub-script-check."""
    script = folder / "grub/grub.d/45_layoutc_recovery"
    env = {"PATH": "/usr/bin:/bin", "LAYOUTC_GRUB_SYSROOT": str(work / "no-kernels")}  # the fixed entry
    cfg = subprocess.run(["sh", str(script)], cwd=work, capture_output=True, text=True, check=True, env=env).stdout
    (line,) = [x.strip() for x in cfg.splitlines() if x.strip().startswith("linux ")]
    expected = [kcmd.kernel_word(p).strip('"') for p in parse_args(kcmd.join([board_cmdline, recovery])).params]
    assert _sh_words(line[len("linux "):], work)[1:] == expected
    snippet = folder / "grub/default.d/layoutc.cfg"
    value = subprocess.run(["sh", "-c", f'GRUB_CMDLINE_LINUX=; . "{snippet}"; printf %s "$GRUB_CMDLINE_LINUX"'],
                           cwd=work, capture_output=True, text=True, check=True).stdout
    assert _sh_words(value, work) == [kcmd.kernel_word(p).strip('"') for p in parse_args(production).params]
    return cfg + f"menuentry 'production' {{\n\tlinux /vmlinuz {value}\n}}\n"


def _verify_units(folder: Path, root: Path) -> None:
    """systemd-analyze verify in a scratch root holding the distribution's units and the scripts."""
    analyze = tool("systemd-analyze")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/lib/layoutc").mkdir(parents=True)
    for script in sorted((folder / "device").glob("*.sh")):
        shutil.copy2(script, root / "usr/lib/layoutc" / script.name)
        (root / "usr/lib/layoutc" / script.name).chmod(0o755)  # the batch writes bytes, not modes
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in sorted((folder / "device" / "systemd").iterdir()):
        shutil.copy2(unit, units / unit.name)
    result = subprocess.run([analyze, "verify", "--man=no", f"--root={root}",
                             *sorted(str(u) for u in units.iterdir())], capture_output=True, text=True)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def _run_checkers(batch: list[tuple[Path, str, str, str]], work: Path) -> None:
    scripts = [str(p) for folder, *_ in batch for p in sorted((folder / "device").glob("*.sh"))]
    for script in scripts:
        subprocess.run([tool("sh"), "-n", script], check=True, capture_output=True)
    if scripts:
        result = subprocess.run([tool("shellcheck"), "--severity=style", *scripts],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    if batch:  # one scratch root per batch: verify costs about a second
        _verify_units(batch[0][0], work.parent / "unit-root")
    grub_text = "".join(_check_grub(folder, board, rec, prod, work) for folder, board, rec, prod in batch)
    checker = shutil.which("grub-script-check")
    if checker is not None and grub_text:
        result = subprocess.run([checker], input=grub_text, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr + grub_text
    assert not (work / MARKER).exists(), "hostile input executed"


# no shrinking: a failure prints its whole batch, and CI time stays bounded
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(profiles, min_size=BATCH, max_size=BATCH))
def test_hostile_fields_stay_inert(tmp_path_factory, batch: list[dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("hostile")
    work = tmp / "work"
    work.mkdir()
    accepted: list[tuple[Path, str, str, str]] = []
    for index, fields in enumerate(batch):
        files = _outputs(_write(tmp, index, fields))
        if files is None:
            continue
        folder = tmp / f"out{index}"
        for rel, content in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(content)
        layout = json.loads(files["layout.json"])
        _check_line_files(files, layout["board_cmdline"])
        accepted.append((folder, layout["board_cmdline"], layout["cmdline"]["recovery"] or "",
                         layout["cmdline"]["production"]))
    _run_checkers(accepted, work)
