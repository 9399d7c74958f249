"""The Debian mirror the lab downloads from, read from the host's own apt sources.

The lab never names an archive itself: it uses the mirror the host's apt already uses. apt reads
``/etc/apt/sources.list`` and then ``/etc/apt/sources.list.d/*.list`` and ``*.sources`` in name order;
this module parses both forms (sources.list(5)):

* one-line: ``deb [opt=value ...] URI SUITE [COMPONENT ...]`` (``#`` starts a comment);
* deb822 stanzas: ``Types``, ``URIs``, ``Suites``, ``Components``, ``Signed-By``, ``Enabled`` and options
  such as ``Check-Valid-Until``, stanzas separated by blank lines, ``#`` comment lines.

The *archive* is the first enabled ``deb`` entry with component ``main`` and a Debian suite (``bookworm``,
``sid``, ``stable``, ``bookworm-updates``, …) that is not a security suite; the *security* archive is the
first one with a ``*-security`` (or old ``*/updates``) suite. The lab asks the archive for bookworm and sid
alike, so it must be a full Debian mirror, as every Debian mirror is.

Overrides: ``$LAYOUTC_DEBIAN_MIRROR`` (or ``layoutc lab --mirror URL``) for the archive,
``$LAYOUTC_DEBIAN_SECURITY_MIRROR`` for the security archive (``none``: do not use one).

Standard library only, so that a shell script can run this file with any python3::

    python3 src/layoutc/lab/image/aptsources.py --line sid    # a one-line apt source for sid on the host's mirror
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIRROR_ENV = "LAYOUTC_DEBIAN_MIRROR"
SECURITY_ENV = "LAYOUTC_DEBIAN_SECURITY_MIRROR"
ETC_APT = Path("/etc/apt")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"  # package debian-archive-keyring

# Debian release codenames and suite aliases (a suite's part before "-updates", "-security", "/updates" …).
DEBIAN_SUITES = frozenset(
    "buzz rex bo hamm slink potato woody sarge etch lenny squeeze wheezy jessie stretch buster bullseye "
    "bookworm trixie forky duke sid stable oldstable oldoldstable testing unstable experimental rc-buggy".split()
)
# Entry options the lab's private sources keep (the host's reasons for them hold for the lab too).
KEPT_OPTIONS = ("signed-by", "check-valid-until", "trusted")


class AptSourcesError(Exception):
    """No usable Debian archive: the message names the files read and the overrides."""


@dataclass(frozen=True, slots=True)
class AptEntry:
    """One source entry: a one-line ``deb`` line or a deb822 stanza."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    options: Mapping[str, str] = field(default_factory=dict)  # KEPT_OPTIONS only, by their one-line names
    enabled: bool = True
    origin: str = ""  # file:line


@dataclass(frozen=True, slots=True)
class Archive:
    """A Debian archive to download from: its URI, the options to use it with, and where it came from."""

    uri: str
    options: Mapping[str, str]
    origin: str  # "file:line", "$LAYOUTC_DEBIAN_MIRROR", "--mirror"

    def line(self, suite: str, components: str = "main", arch: str | None = None) -> str:
        """The one-line apt source for ``suite`` on this archive (an inline key must be written out first).

        ``arch`` restricts the entry to one architecture (``arch=arm64``, deb822's ``Architectures: arm64``)."""
        if "\n" in self.options.get("signed-by", ""):
            raise AptSourcesError(f"{self.origin}: the inline Signed-By key must be written out (with_key_file)")
        options = {**({"arch": arch} if arch else {}), **self.options}
        opts = " ".join(f"{k}={v}" for k, v in options.items())
        return f"deb {f'[{opts}] ' if opts else ''}{self.uri} {suite} {components}"

    def with_key_file(self, path: Path) -> Archive:
        """This archive with an inline ``Signed-By`` key (deb822) written to ``path`` and named by it."""
        key = self.options.get("signed-by", "")
        if "BEGIN PGP" not in key:
            return self
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key.strip() + "\n")
        return Archive(self.uri, {**self.options, "signed-by": str(path)}, self.origin)


@dataclass(frozen=True, slots=True)
class DebianMirror:
    archive: Archive
    security: Archive | None
    files: tuple[Path, ...]  # the sources files read
    notes: tuple[str, ...] = ()  # e.g. why there is no security archive


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def parse_one_line(text: str, origin: str = "sources.list") -> list[AptEntry]:
    """Entries of the one-line form. Malformed lines are skipped (apt would refuse them; we just ignore)."""
    entries: list[AptEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        kind, *tail = line.split(None, 1)
        rest = tail[0] if tail else ""
        options: dict[str, str] = {}
        if rest.startswith("["):
            inside, bracket, rest = rest[1:].partition("]")
            if not bracket:
                continue
            for item in inside.split():
                key, eq, value = item.partition("=")
                if eq and key.lower() in KEPT_OPTIONS:
                    options[key.lower()] = value
        words = rest.split()
        if kind not in ("deb", "deb-src") or len(words) < 2:
            continue
        entries.append(
            AptEntry(
                types=(kind,),
                uris=(words[0],),
                suites=(words[1],),
                components=tuple(words[2:]),
                options=options,
                origin=f"{origin}:{number}",
            )
        )
    return entries


def _stanzas(text: str) -> list[tuple[int, dict[str, str]]]:
    """deb822 paragraphs: (first line number, {lower-case field: value}); continuation lines joined by \\n."""
    out: list[tuple[int, dict[str, str]]] = []
    fields: dict[str, str] = {}
    start, last = 0, ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if fields:
                out.append((start, fields))
            fields, last = {}, ""
            continue
        if raw[0] in " \t":
            if last:
                more = raw.strip()
                fields[last] += "\n" + ("" if more == "." else more)
            continue
        key, colon, value = raw.partition(":")
        if not colon:
            continue
        if not fields:
            start = number
        last = key.strip().lower()
        fields[last] = value.strip()
    if fields:
        out.append((start, fields))
    return out


def _yes(value: str) -> bool:
    return value.strip().lower() not in ("no", "false", "without", "0")


def parse_deb822(text: str, origin: str = "debian.sources") -> list[AptEntry]:
    """Entries of the deb822 form (one per stanza; ``Enabled: no`` gives ``enabled=False``)."""
    entries: list[AptEntry] = []
    for number, fields in _stanzas(text):
        options: dict[str, str] = {}
        for key in KEPT_OPTIONS:
            if key in fields and fields[key].strip():
                value = fields[key].strip()
                options[key] = value if "BEGIN PGP" in value else ",".join(value.replace(",", " ").split())
        entries.append(
            AptEntry(
                types=tuple(fields.get("types", "").split()),
                uris=tuple(fields.get("uris", "").split()),
                suites=tuple(fields.get("suites", "").split()),
                components=tuple(fields.get("components", "").split()),
                options=options,
                enabled=_yes(fields.get("enabled", "yes")),
                origin=f"{origin}:{number}",
            )
        )
    return entries


def source_files(etc: Path | None = None) -> list[Path]:
    """The files apt reads, in apt's order: sources.list, then sources.list.d/*.list|*.sources by name."""
    etc = etc or ETC_APT
    files = [etc / "sources.list"] if (etc / "sources.list").is_file() else []
    parts = etc / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.is_file() and p.suffix in (".list", ".sources"))
    return files


def read_sources(etc: Path | None = None) -> tuple[list[AptEntry], list[Path]]:
    """Every entry of the host's apt sources, and the files read."""
    entries: list[AptEntry] = []
    files = source_files(etc)
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        parse = parse_deb822 if path.suffix == ".sources" else parse_one_line
        entries += parse(text, str(path))
    return entries, files


def _base(suite: str) -> str:
    return re.split(r"[-/]", suite, maxsplit=1)[0]


def is_security_suite(suite: str) -> bool:
    return _base(suite) in DEBIAN_SUITES and (suite.endswith("-security") or suite.endswith("/updates"))


def is_archive_suite(suite: str) -> bool:
    return _base(suite) in DEBIAN_SUITES and not is_security_suite(suite)


def _usable(entry: AptEntry) -> list[str]:
    if not entry.enabled or "deb" not in entry.types or "main" not in entry.components:
        return []
    return [u.rstrip("/") for u in entry.uris if not u.startswith("cdrom:")]


def _pick(entries: Sequence[AptEntry], wanted: str) -> Archive | None:
    """The first usable entry with a suite of the wanted kind; for the archive, a release suite
    (``bookworm``, ``sid``) wins over ``-updates``/``-backports`` ones."""
    tests: list[Callable[[str], bool]]
    if wanted == "security":
        tests = [is_security_suite]
    else:
        tests = [lambda s: is_archive_suite(s) and _base(s) == s, is_archive_suite]
    for test in tests:
        for entry in entries:
            uris = _usable(entry)
            if uris and any(test(s) for s in entry.suites):
                return Archive(uris[0], dict(entry.options), entry.origin)
    return None


def check_uri(value: str, what: str) -> str:
    """A mirror URI given by hand: ``scheme:`` … with no spaces; returns it without a trailing slash."""
    if not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", value):
        raise AptSourcesError(f"{what}: {value!r} is not a URI (e.g. http://HOST/debian)")
    return value.rstrip("/")


def _default_options() -> dict[str, str]:
    return {"signed-by": KEYRING} if Path(KEYRING).is_file() else {}


def debian_mirror(
    *, etc: Path | None = None, environ: Mapping[str, str] | None = None, override: str | None = None
) -> DebianMirror:
    """The archive (and security archive) to use: ``override``, else ``$LAYOUTC_DEBIAN_MIRROR``, else the host's.

    Raises ``AptSourcesError`` when neither gives a Debian archive.
    """
    env = os.environ if environ is None else environ
    etc = etc or ETC_APT
    entries, files = read_sources(etc)
    notes: list[str] = []
    archive: Archive | None
    if override:
        archive = Archive(check_uri(override, "--mirror"), _default_options(), "--mirror")
    elif env.get(MIRROR_ENV):
        archive = Archive(check_uri(env[MIRROR_ENV], f"${MIRROR_ENV}"), _default_options(), f"${MIRROR_ENV}")
    else:
        archive = _pick(entries, "archive")
    if archive is None:
        if files:
            read = "files read: " + ", ".join(str(f) for f in files)
        else:
            read = f"no sources file: {etc / 'sources.list'} and {etc / 'sources.list.d'}/*.list|*.sources are absent"
        raise AptSourcesError(
            f"no Debian archive in the host's apt sources ({read}; wanted an enabled 'deb' entry "
            f"with component main and a Debian suite such as bookworm or sid); set {MIRROR_ENV}=URL or pass "
            "layoutc lab --mirror URL"
        )
    security: Archive | None
    sec_env = env.get(SECURITY_ENV, "")
    if sec_env.lower() == "none":
        security = None
        notes.append(f"no security archive (${SECURITY_ENV}=none)")
    elif sec_env:
        security = Archive(check_uri(sec_env, f"${SECURITY_ENV}"), _default_options(), f"${SECURITY_ENV}")
    else:
        security = _pick(entries, "security")
        if security is None:
            where = ", ".join(str(f) for f in files) or "no sources file"
            notes.append(
                f"no Debian security archive in the host's apt sources ({where}): bookworm-security is not "
                f"used, so a 6.1 kernel only published there is not found; set {SECURITY_ENV}=URL to add it"
            )
    return DebianMirror(archive, security, tuple(files), tuple(notes))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aptsources.py", description="The Debian mirror the host's apt uses (the lab's reader)."
    )
    parser.add_argument("--line", metavar="SUITE", help="print a one-line apt source for SUITE (component main)")
    parser.add_argument("--etc", type=Path, default=None, help=f"apt's configuration directory (default {ETC_APT})")
    parser.add_argument("--mirror", help="use this archive URI instead of the host's")
    parser.add_argument("--key-dir", type=Path, help="where to write an inline Signed-By key (default: refuse it)")
    args = parser.parse_args(argv)
    try:
        mirror = debian_mirror(etc=args.etc, override=args.mirror)
    except AptSourcesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.line:
        archive = mirror.archive.with_key_file(args.key_dir / "archive.asc") if args.key_dir else mirror.archive
        try:
            print(archive.line(args.line))
        except AptSourcesError as exc:
            print(f"error: {exc}; pass --key-dir DIR", file=sys.stderr)
            return 1
        return 0
    print(f"archive {mirror.archive.uri} ({mirror.archive.origin})")
    print(f"security {mirror.security.uri} ({mirror.security.origin})" if mirror.security else "security none")
    for note in mirror.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
