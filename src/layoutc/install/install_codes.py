"""The install diagnostic codes (LC5xx), each with the rule it enforces (docs/diagnostics.md)."""

from __future__ import annotations

INSTALL_CODES: dict[str, str] = {
    "LC501": "a destination would leave the root (a symbolic link to an absolute path or out of the root)",
    "LC502": "a destination holds a file that is not layoutc's",
    "LC503": "an installed file was changed since layoutc installed it",
    "LC504": "--from: the compiled board differs from its compile manifest (a file changed or is missing)",
    "LC505": "--from: the compiled board is stale (its profile compiles to other files now)",
    "LC506": "--from: not a compiled board directory",
    "LC507": "the install manifest in the root is unreadable",
    "LC508": "a file could not be written or removed; what this run changed was rolled back",
    "LC509": "note: nothing to uninstall (no install manifest in the root)",
    "LC510": "another board is installed in this root",
    "LC511": "a destination is a directory or not a regular file",
    "LC512": "note: --from could not find the profile layout.json names, so staleness is not checked",
}

RULES: dict[str, str] = {
    "LC501": "every destination is resolved below --root one component at a time; a link is followed only when "
    "its target stays below the root (an absolute target only when the root is /)",
    "LC502": "install replaces only files its manifest lists or files that already hold the same bytes; "
    "--force replaces others (uninstall then removes them)",
    "LC503": "install and uninstall change only files whose sha256 is the one the manifest recorded; --force "
    "overrides",
    "LC504": "OUT/manifest.json records the sha256 of every compiled file; --from lays only what it lists, "
    "unchanged",
    "LC505": "--from recompiles the profile named in layout.json and lays the board only when every file "
    "is the same",
    "LC506": "--from names a directory that holds layout.json and device/ (OUT of a single compile, or "
    "OUT/<board> of a fleet), with OUT/manifest.json",
    "LC507": "the manifest (/var/lib/layoutc/manifest.json) is JSON written by layoutc install",
    "LC508": "each file is written to a temporary name and renamed; on an error every file this run "
    "replaced is restored and every file it made is removed",
    "LC509": "uninstall removes what the manifest lists",
    "LC510": "one root holds one board: --force replaces the installed board's files",
    "LC511": "a destination is a regular file or a symbolic link the install made",
    "LC512": "the profile path in layout.json is relative to the top of the git work tree that held it",
}
