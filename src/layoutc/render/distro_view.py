"""The view of a distribution kdump stack's configuration (``crash.stack``; docs/distributions.md).

kdump-tools (Debian, Ubuntu): ``/etc/default/kdump-tools``, sourced by sh, and an empty
``/etc/default/grub.d/kdump-tools.cfg``: layoutc's GRUB snippet owns ``crashkernel=``. kdump-utils (Fedora,
RHEL): ``/etc/kdump.conf`` and ``/etc/sysconfig/kdump``. When the stack's makedumpfile is known wrong for
the kernel (``StackSpec.divert``), the makedumpfile wrapper and its ``dpkg-divert`` recipe. Every value is
computed here; the templates loop and quote (docs/reference/sources.md §13).
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.kernel import cmdline as kcmd
from layoutc.kernel.params import parse_args
from layoutc.model.layout import Layout
from layoutc.model.profile import Arch, Profile
from layoutc.model.stack import Stack

INSTALL_DIR = "/usr/lib/layoutc"  # render.device_view.INSTALL_DIR
DUMP_PYZ = f"{INSTALL_DIR}/dump.pyz"
FILTER = "/etc/layoutc/filter.json"
WRAPPER = f"{INSTALL_DIR}/makedumpfile"  # the makedumpfile-compatible wrapper
# the distribution's makedumpfile: Debian's package installs /usr/bin/makedumpfile (bookworm's 1.7.2-1;
# kdump-config's PATH=/bin:/usr/bin:/sbin:/usr/sbin finds it there first), Fedora's /usr/sbin/makedumpfile
MAKEDUMPFILE = "/usr/sbin/makedumpfile"  # kdump-utils' --dump-dmesg fallback (kdump.conf's collector is ours)
DEBIAN_MAKEDUMPFILE = "/usr/bin/makedumpfile"  # what the kdump-tools diversion replaces
DISTRIB = f"{DEBIAN_MAKEDUMPFILE}.distrib"  # where dpkg-divert --rename moves it
# kdump-config's KDUMP_CMDLINE_APPEND default (Debian packaging, debian/rules); a value set in
# /etc/default/kdump-tools replaces it, so layoutc writes it whole (docs/reference/sources.md §13.1)
DEBIAN_APPEND = {
    Arch.X86_64: ("reset_devices", "systemd.unit=kdump-tools-dump.service", "nr_cpus=1", "irqpoll",
                  "usbcore.nousb"),
    Arch.ARM64: ("reset_devices", "systemd.unit=kdump-tools-dump.service", "nr_cpus=1"),
}
# what kdump-config strips from /proc/cmdline before appending (kdump_load)
DEBIAN_STRIPPED = ("crashkernel", "abm", "isolcpus", "hugepages", "hugepagesz", "default_hugepagesz",
                   "edac_core.edac_report", "edac_report", "BOOT_IMAGE", "processor.max_cstate")
# gen-kdump-sysconfig.sh: _common + the architecture's; /etc/sysconfig/kdump replaces the whole file
FEDORA_REMOVE_COMMON = ("hugepages", "hugepagesz", "slub_debug", "quiet", "log_buf_len", "swiotlb", "hugetlb_cma",
                        "ignition.firstboot")
FEDORA_REMOVE = {Arch.X86_64: ("cma",), Arch.ARM64: ("cma",)}
FEDORA_APPEND_COMMON = ("novmcoredd", "hugetlb_cma=0", "kfence.sample_interval=0", "initramfs_options=size=90%")
FEDORA_APPEND = {
    Arch.X86_64: ("irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "mce=off", "numa=off",
                  "udev.children-max=2", "panic=10", "acpi_no_memhotplug", "transparent_hugepage=never",
                  "nokaslr", "hest_disable", "cma=0", "pcie_ports=compat"),
    Arch.ARM64: ("irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "udev.children-max=2",
                 "panic=10", "swiotlb=noforce", "cma=0"),
}
FEDORA_REMOVED_ALWAYS = ("crashkernel", "panic_on_warn", "root")  # kdump-lib.sh prepare_cmdline
FEDORA_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "virtiofs")  # kdump.conf(5) targets


@dataclass(frozen=True, slots=True)
class DistroView:
    header: str
    board: str
    stack: str
    divert: bool
    makedumpfile_note: str  # why the collector is (or is not) diverted
    # kdump-tools: (variable, value) in file order, each value shell-quoted by the template
    tools_vars: tuple[tuple[str, str], ...]
    fstab_line: str  # where the dump partition must be mounted for KDUMP_COREDIR
    carried: tuple[str, ...]  # layout words of /proc/cmdline that kdump-config passes on (none for disk boards)
    crashkernel: str  # the crashkernel= words layoutc's GRUB snippet sets
    # kdump-utils
    conf_lines: tuple[str, ...]
    sysconfig_vars: tuple[tuple[str, str], ...]
    # the diversion
    wrapper: str
    distrib: str  # the distribution's makedumpfile: diverted (kdump-tools) or in place (kdump-utils)
    makedumpfile: str
    pyz: str
    spec: str


def words(text: str) -> list[str]:
    """A cmdline's words as the kernel reads them back (kernel.cmdline.kernel_word)."""
    return [kcmd.kernel_word(p) for p in parse_args(text).params]


def _key(word: str) -> str:
    return word.split("=", 1)[0]


def merge(defaults: tuple[str, ...], extra: list[str], skip: set[str]) -> tuple[str, ...]:
    """``defaults`` with each ``extra`` word replacing the default of its name, or appended; words in ``skip``
    (already on /proc/cmdline) and exact duplicates are left out."""
    words = list(defaults)
    for word in extra:
        if word in skip or word in words:
            continue
        same = [i for i, w in enumerate(words) if _key(w) == _key(word)]
        if same:
            words[same[0]] = word
        else:
            words.append(word)
    return tuple(words)


def crash_words(layout: Layout) -> list[str]:
    return words(kcmd.join([layout.crash_board_cmdline, layout.cmdline.crash]))


def _makedumpfile_args(profile: Profile, spec_args: list[str]) -> list[str]:
    """The filter spec's makedumpfile flags, compression first (-c -d 31, as the stacks write them)."""
    level = spec_args[spec_args.index("-d") + 1]
    rest = [a for i, a in enumerate(spec_args) if a != "-d" and (i == 0 or spec_args[i - 1] != "-d")]
    return [*rest, "-d", level]


def build_view(profile: Profile, layout: Layout, spec_args: list[str]) -> DistroView:
    """The view of ``profile``'s distribution stack; ``spec_args`` is its filter spec's makedumpfile args."""
    assert profile.disk is not None, "distribution stacks are for disk targets (LC260)"
    stack, disk, arch = profile.stack, profile.disk, profile.arch
    production = words(kcmd.join([layout.board_cmdline, layout.cmdline.production]))
    on_proc = set(production)
    args = _makedumpfile_args(profile, spec_args)
    is_dir = not disk.device.startswith("/dev/")
    coredir = disk.device if is_dir else profile.recovery.store
    tools: list[tuple[str, str]] = [("USE_KDUMP", "1")]
    given = (("KDUMP_KERNEL", "kernel_path"), ("KDUMP_INITRD", "initrd_path"))
    tools += [(name, getattr(profile.crash, attr)) for name, attr in given if f"crash.{attr}" in profile.spans]
    tools += [("KDUMP_COREDIR", coredir),
              ("KDUMP_CMDLINE_APPEND", " ".join(merge(DEBIAN_APPEND[arch], crash_words(layout), on_proc))),
              ("MAKEDUMP_ARGS", " ".join(args))]
    if stack.keep_dumps:
        tools.append(("KDUMP_NUM_DUMPS", str(stack.keep_dumps)))
    collector = WRAPPER if stack.divert else "makedumpfile"
    comp = [a for a in args if a in ("-c", "-l", "-p", "-z", "-E")]
    conf = ([f"path {disk.device}"] if is_dir else [f"{disk.fstype} {disk.device}", "path /"])
    conf.append(" ".join([f"core_collector {collector}", *comp, "--message-level", "7", *args[len(comp):]]))
    if stack.divert:
        conf.append(f"extra_bins {DUMP_PYZ} {FILTER}")
    conf.append("failure_action reboot")
    remove = merge(FEDORA_REMOVE_COMMON + FEDORA_REMOVE[arch],
                   [_key(w) for w in words(layout.cmdline.production) if _key(w) not in FEDORA_REMOVED_ALWAYS], set())
    append = merge(FEDORA_APPEND_COMMON + FEDORA_APPEND[arch], crash_words(layout), on_proc)
    carried = tuple(w for w in words(layout.cmdline.production) if _key(w) not in DEBIAN_STRIPPED)
    return DistroView(
        header=f"generated by layoutc from {layout.profile}; do not edit", board=layout.board, stack=str(stack.stack),
        divert=stack.divert, makedumpfile_note=_note(profile),
        tools_vars=tuple(tools),
        fstab_line="" if is_dir else f"{disk.device} {coredir} {disk.fstype} defaults,nofail 0 2",
        carried=carried,
        crashkernel=" ".join(w for w in words(layout.cmdline.production) if _key(w) == "crashkernel"),
        conf_lines=tuple(conf),
        sysconfig_vars=(("KDUMP_KERNELVER", ""), ("KDUMP_COMMANDLINE", ""),
                        ("KDUMP_COMMANDLINE_REMOVE", " ".join(remove)),
                        ("KDUMP_COMMANDLINE_APPEND", " ".join(append)), ("KEXEC_ARGS", "-s"),
                        ("KDUMP_IMG", "vmlinuz"), ("KDUMP_IMG_EXT", "")),
        wrapper=WRAPPER, distrib=DISTRIB if stack.stack is Stack.KDUMP_TOOLS else MAKEDUMPFILE,
        makedumpfile=DEBIAN_MAKEDUMPFILE if stack.stack is Stack.KDUMP_TOOLS else MAKEDUMPFILE, pyz=DUMP_PYZ,
        spec=FILTER,
    )


def _note(profile: Profile) -> str:
    stack = profile.stack
    if not stack.divert:
        stated = stack.makedumpfile or "(version not stated)"
        return f"makedumpfile {stated} reads Linux {profile.kernel_version}"
    version = stack.makedumpfile or "(version not stated: an affected release assumed)"
    return (f"makedumpfile {version} drops compound tail pages on Linux {profile.kernel_version} "
            f"(LC261/LC262): the collector is layoutc's dumper through {WRAPPER}")


def applies(profile: Profile, stack: Stack) -> bool:
    return profile.stack.stack is stack
