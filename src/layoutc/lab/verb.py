"""``layoutc lab`` argument handling: ``main_lab(argv) -> int``.

``layoutc lab PROFILE [flags]`` compiles PROFILE (``layoutc compile PROFILE -o OUT/compiled`` in a child
process) and runs the lab on the result; ``--layout-dir DIR`` runs it on an existing compile output.
This module is the only place in the lab that writes to stdout/stderr.

Exit codes (docs/cli.md): 0 every prediction observed; 4 a mismatch, or the lab could not run (tool
missing, boot timed out, guest died), or the profile cannot be emulated faithfully on this host or kernel
(the report's verdict says which: fail, error, cannot-emulate); 1 invalid layout.json; 2 usage.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from layoutc.dump.exit_codes import ExitCode
from layoutc.lab.errors import LabError
from layoutc.lab.facts.roundtrip import child_env
from layoutc.lab.image import aptsources
from layoutc.lab.image.kernels import SERIES
from layoutc.lab.run import STAGES, LabOptions, run_lab

_ERROR_EXIT = {"usage": ExitCode.USAGE, "invalid-layout": ExitCode.INVALID_INPUT}


def build_parser(prog: str = "layoutc lab") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,
        description="Boot a compiled layout in real kernels under QEMU and compare.",
    )
    parser.add_argument("profile", nargs="?", type=Path, help="profile to compile first (or give --layout-dir)")
    parser.add_argument("--layout-dir", type=Path, help="an existing `layoutc compile -o` directory")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--kernel", type=Path, help="boot this bzImage (modules from the cache of its release)")
    which.add_argument("--debian", choices=sorted(SERIES), default=None, help="Debian kernel series (default 7)")
    parser.add_argument("--stage", choices=STAGES, default="boot")
    parser.add_argument("-o", "--output", type=Path, default=None, help="report and serial logs (default: temp dir)")
    parser.add_argument(
        "--accel",
        choices=("tcg", "kvm", "auto"),
        default="tcg",
        help="auto: KVM only if a smoke boot proves it (default tcg)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per boot before QEMU is killed")
    parser.add_argument(
        "--keep-vmcore",
        action="store_true",
        help="--stage full: save the guest's /proc/vmcore under .cache/lab/vmcores/",
    )
    parser.add_argument(
        "--grub",
        action="store_true",
        help="--stage full, movable windows with a grubenv one-shot: boot production and recovery through real "
        "GRUB (i386-pc ISO; grub.cfg from grub-mkconfig's 00_header, layoutc.cfg and the generated "
        "45_layoutc_recovery) in one QEMU instead of the host reading next_entry",
    )
    parser.add_argument(
        "--efi",
        action="store_true",
        help="--stage full, movable windows with recovery.boot_selection efi: boot production and recovery through "
        "OVMF and systemd-boot (an ESP with the generated BLS entry) in one QEMU; the crash kernel's "
        "LoaderEntryOneShot picks the recovery entry",
    )
    parser.add_argument(
        "--system",
        choices=("busybox", "debian"),
        default="busybox",
        help="--stage boot in a busybox initramfs guest (default) or in a Debian 12 system (debootstrap, cached "
        "under the user's cache directory) booted through GRUB BIOS to systemd, with the board laid in by "
        "layoutc install; --stage full there: the panic, the crash initramfs layoutc initramfs built and the "
        "boot after it, in one QEMU (docs/lab.md)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="the report as text (default) or JSON on stdout")
    parser.add_argument("--json", dest="format", action="store_const", const="json",
                        help="the same as --format json")
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="Debian archive to download kernels from (default: $LAYOUTC_DEBIAN_MIRROR, else the host's apt sources)",
    )
    return parser


def main_lab(argv: Sequence[str] | None = None) -> int:
    """Run ``layoutc lab`` with ``argv`` (without the verb); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse's own exit for --help / usage errors
        return int(exc.code or 0)
    if (args.profile is None) == (args.layout_dir is None):
        print("layoutc lab: error: give a PROFILE or --layout-dir DIR (exactly one)", file=sys.stderr)
        return ExitCode.USAGE
    if args.mirror is not None:
        try:
            os.environ[aptsources.MIRROR_ENV] = aptsources.check_uri(args.mirror, "--mirror")
        except aptsources.AptSourcesError as exc:
            print(f"layoutc lab: error: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    default = "6.1" if args.system == "debian" else "7"  # a Debian 12 system runs Debian 12's kernel
    kernel: str | Path = args.kernel if args.kernel is not None else (args.debian or default)
    out_dir: Path = args.output or Path(tempfile.mkdtemp(prefix="layoutc-lab-"))
    options = LabOptions(accel=args.accel, timeout=args.timeout, keep_vmcore=args.keep_vmcore, profile=args.profile,
                         grub=args.grub, efi=args.efi, system=args.system)  # fmt: skip
    layout_dir: Path = args.layout_dir or out_dir / "compiled"
    if args.profile is not None:
        code = compile_profile(args.profile, layout_dir)
        if code != 0:
            _drop_if_empty(out_dir, made=args.output is None)
            return code
    try:
        report = run_lab(layout_dir, kernel=kernel, stage=args.stage, out_dir=out_dir, options=options)
    except LabError as exc:
        print(f"layoutc lab: error: {exc.code}: {exc.message}", file=sys.stderr)
        _drop_if_empty(out_dir, made=args.output is None)
        return _ERROR_EXIT.get(exc.code, ExitCode.FAILED)
    sys.stdout.write(report.to_json() if args.format == "json" else report.to_text())
    if args.format == "text":
        print(f"report: {out_dir / 'report.txt'}")
    return report.exit_code


def _drop_if_empty(out_dir: Path, made: bool) -> None:
    """A run that stopped before writing anything leaves no empty temporary directory behind."""
    if made:
        try:
            out_dir.rmdir()
        except OSError:  # something was written (a serial log, a partial report): kept for the user
            pass


def compile_profile(profile: Path, dest: Path) -> int:
    """``layoutc compile PROFILE -o DEST`` in a child process (the lab never imports the compiler)."""
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(profile), "-o", str(dest)]
    return subprocess.run(argv, check=False, env=child_env()).returncode


main = main_lab  # layoutc.cli.main delegates ``layoutc lab …`` to ``layoutc.lab.verb.main``


if __name__ == "__main__":
    raise SystemExit(main_lab())
