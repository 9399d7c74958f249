"""Meaning checks against what the kernel can do: ``kernel.config`` versus the design's needs.

Called by ``elaborate`` once crash, window and disk are typed (so ``layoutc check``, ``compile``
and every verb that loads a profile see the same errors before anything is solved). The table of
options and needs is ``layoutc.kernel.capabilities``; this module turns a gap into a diagnostic:

- a need whose option is not built (LC242), or built ``=m`` while MODULES is not y (LC243): errors;
- no ``kernel.config``: one warning saying what was assumed (LC244), then the Debian-like defaults;
- a window whose release was left to ``auto`` (kmem with an SRAT) on a kernel that cannot hand it
  back in place: the release becomes ``reboot`` (the window returns at the next normal boot) with a
  warning (LC245); an explicit ``release: kmem`` or a hotplug window (which only kmem brings
  online) is an error (LC242).
"""

from __future__ import annotations

import dataclasses

from layoutc.diagnostics.diagnostic import Diagnostics, Related
from layoutc.frontend.yaml_source import Document, Key, dotted
from layoutc.kernel.capabilities import (
    BY_SYMBOL,
    IN_PLACE_RETURN,
    Need,
    assumed_config,
    crash_needs,
    missing,
    modules_without_loader,
)
from layoutc.model.profile import (
    Arch,
    CrashMemory,
    CrashSpec,
    DiskSpec,
    KernelConfig,
    KernelVersion,
    Release,
    Target,
    WindowMode,
    WindowSpec,
)

CONFIG: Key = ("kernel", "config")


def check_capabilities(doc: Document, diags: Diagnostics, arch: Arch, version: KernelVersion, crash: CrashSpec,
                       window: WindowSpec | None, disk: DiskSpec | None,
                       quiet: bool) -> tuple[KernelConfig, WindowSpec | None]:
    """The profile's kernel configuration (stated or assumed) and the window with its release resolved.

    ``quiet``: the profile is abstract or already has errors, so an assumption is not worth a warning.
    """
    stated = _stated(doc)
    config = KernelConfig(stated if stated is not None else assumed_config(arch, version), stated is not None)
    options = dict(config.options)
    if arch is Arch.ARM64 and options.get("KALLSYMS_ALL", "n") != "y":
        _no_text_symbol(doc, diags, version, config.stated)
    needs = crash_needs(arch, crash.memory is CrashMemory.CMA, crash.target is Target.PMEM_WINDOW,
                        disk.fstype if disk is not None else None)
    in_place = window is not None and (window.mode is WindowMode.HOTPLUG or window.release is Release.KMEM)
    asked = _release_asked(doc)
    if window is not None and in_place and missing(IN_PLACE_RETURN, options):
        if window.mode is WindowMode.MOVABLE and asked == "auto":
            _deferred(doc, diags, options, config.stated)
            window = dataclasses.replace(window, release=Release.REBOOT)
            in_place = False
    used = (*needs, IN_PLACE_RETURN) if in_place else needs
    if config.stated:
        for need in used:
            gap = missing(need, options)
            if gap:
                _lacks(doc, diags, need, gap, _asked_by(doc, need, window), options)
        loose = modules_without_loader(used, options)
        if loose:
            _no_modules(doc, diags, loose)
    elif not quiet:
        _assumed(doc, diags, arch, version, used)
    return config, window


def _stated(doc: Document) -> dict[str, str] | None:
    data = doc.data.get("kernel") if isinstance(doc.data, dict) else None
    config = data.get("config") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in config.items()} if isinstance(config, dict) else None


def _release_asked(doc: Document) -> str:
    window = doc.data.get("window") if isinstance(doc.data, dict) else None
    return str(window.get("release", "auto")) if isinstance(window, dict) else "auto"


def _has(doc: Document, path: Key) -> bool:
    node: object = doc.data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _asked_by(doc: Document, need: Need, window: WindowSpec | None) -> Key:
    """The profile key whose design uses ``need`` (the first one the file spells out)."""
    if need is IN_PLACE_RETURN:
        keys: tuple[Key, ...] = (("window", "mode"),) if window is not None and window.mode is WindowMode.HOTPLUG \
            else (("window", "release"), ("window",))
    elif "CMA" in need.symbols:
        keys = (("crash", "memory"),)
    elif "BLK_DEV_PMEM" in need.symbols:
        keys = (("crash", "target"), ("window",))
    elif need.symbols == ("EXT4_FS",):
        keys = (("disk", "fstype"), ("crash", "target"), ("disk",))
    else:
        keys = (("crash",),)
    return next((k for k in keys if _has(doc, k)), CONFIG)


def _shown(symbols: tuple[str, ...], options: dict[str, str]) -> str:
    return ", ".join(f"{s}: {options.get(s, 'n')}" for s in symbols)


def _defined(symbols: tuple[str, ...]) -> str:
    return "; ".join(f"{s} in {BY_SYMBOL[s].kconfig}" for s in symbols)


def _config_span(doc: Document, symbol: str) -> tuple[Related, ...]:
    path: Key = (*CONFIG, symbol) if _has(doc, (*CONFIG, symbol)) else CONFIG
    return (Related(doc.span(path), "the kernel's configuration"),)


def _lacks(doc: Document, diags: Diagnostics, need: Need, gap: tuple[str, ...], path: Key,
           options: dict[str, str]) -> None:
    names = " and ".join(f"CONFIG_{s}" for s in gap)
    how = "=y, or =m with MODULES=y" if any(BY_SYMBOL[s].module for s in gap) else "=y"
    diags.error("LC242", f"{need.what} needs {names}, which this kernel does not build ({_shown(gap, options)})",
                span=doc.span(path), path=dotted(path), value=_shown(gap, options),
                rule=f"{need.source}; Kconfig: {_defined(gap)}",
                hint=f"build the kernel with {names} ({how}); {need.instead}",
                related=_config_span(doc, gap[0]))


def _no_modules(doc: Document, diags: Diagnostics, loose: tuple[str, ...]) -> None:
    names = ", ".join(f"CONFIG_{s}=m" for s in loose)
    path: Key = (*CONFIG, "MODULES") if _has(doc, (*CONFIG, "MODULES")) else CONFIG
    diags.error("LC243", f"{names} built as modules, but CONFIG_MODULES is not y: nothing can load them",
                span=doc.span(path), path=dotted(path), value=names,
                rule="a tristate option built =m is a .ko that only a kernel with loadable modules can load "
                     "(kernel/module/Kconfig MODULES; kernel/module/main.c load_module)",
                hint="build the kernel with CONFIG_MODULES=y, or build those options in (=y)")


def _deferred(doc: Document, diags: Diagnostics, options: dict[str, str], stated: bool) -> None:
    gap = missing(IN_PLACE_RETURN, options)
    path: Key = ("window",) if _has(doc, ("window",)) else CONFIG
    where = "" if stated else " (assumed)"
    diags.warning("LC245", f"this kernel cannot hand the window back in place (no {', '.join(gap)}{where}): "
                  "the window returns at the next normal boot (release: reboot)",
                  span=doc.span(path), path=dotted(path), value=_shown(gap, options),
                  rule=f"{IN_PLACE_RETURN.source}; Kconfig: {_defined(gap)}",
                  hint="build the kernel with them for release kmem, or write window.release: reboot to "
                       "make the choice explicit")


def _no_text_symbol(doc: Document, diags: Diagnostics, version: KernelVersion, stated: bool) -> None:
    symbol: Key = (*CONFIG, "KALLSYMS_ALL")
    path: Key = symbol if _has(doc, symbol) else CONFIG if stated else ("kernel", "version")
    path = path if _has(doc, path) else ()
    why = "" if stated else f" (assumed for a Debian-like arm64 {version} kernel)"
    diags.error("LC250", f"arm64 crash capture needs CONFIG_KALLSYMS_ALL=y{why}: without it kexec -p builds a "
                "broken ELF core header",
                span=doc.span(path), path=dotted(path) if path else "kernel", value="KALLSYMS_ALL: n",
                rule="kexec-tools computes the crash kernel's page_offset from _text in /proc/kallsyms "
                     "(kexec/arch/arm64/kexec-arm64.c get_kernel_page_offset); scripts/kallsyms.c keeps only "
                     "symbols inside [_stext, _etext] unless CONFIG_KALLSYMS_ALL, and arm64's _text lies below "
                     "_stext. Measured under QEMU: Debian arm64 6.1.0-57 (KALLSYMS_ALL not set) has no _text in "
                     "/proc/kallsyms, and kexec-tools 2.0.25 and 2.0.32 print \"Can't get the symbol of _text\" "
                     "and write an ELF header whose /proc/vmcore is 18446603340415574016 bytes, for a disk and a "
                     "pmem target alike; Debian arm64 7.2.13 (KALLSYMS_ALL=y) works "
                     "(docs/reference/kernel-rules.md §8.7)",
                hint="build the kernel with CONFIG_KALLSYMS_ALL=y (Debian's 7.x arm64 kernels have it), or state "
                     "kernel.config if this kernel already does")


def _assumed(doc: Document, diags: Diagnostics, arch: Arch, version: KernelVersion, used: tuple[Need, ...]) -> None:
    symbols: list[str] = []
    for need in used:
        symbols += [s for s in need.symbols if s not in symbols]
    path: Key = ("kernel",) if _has(doc, ("kernel",)) else ()
    diags.warning("LC244", f"kernel.config is not given: assumed a Debian-like {arch} {version} kernel that "
                  f"builds {', '.join(symbols)}",
                  span=doc.span(path), path=dotted(path) if path else "kernel",
                  value=", ".join(symbols),
                  rule="a layout works only with the kernel options it uses (layoutc.kernel.capabilities; "
                       "Debian's 6.1 and 7.2 cloud-amd64 configurations in tests/captures/kconfig)",
                  hint="import the board from a capture that has its kernel config ('layoutc probe --raw' reads "
                       "/proc/config.gz or /boot/config-RELEASE), or add kernel.config")
