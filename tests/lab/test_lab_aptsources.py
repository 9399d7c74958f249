"""The lab's Debian mirror comes from the host's apt sources (both forms), or from the overrides (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layoutc.lab.errors import LabError
from layoutc.lab.image import aptsources, kernels
from layoutc.lab.image.aptsources import AptSourcesError, debian_mirror, parse_deb822, parse_one_line
from layoutc.lab.verb import main_lab

MAIN = "http://mirror.example/debian"
SEC = "http://mirror.example/debian-security"
KEY = "/usr/share/keyrings/example-archive-keyring.gpg"
NO_ENV: dict[str, str] = {}

DEB822 = f"""Types: deb deb-src
# a comment inside the stanza does not end it
URIs: {MAIN} http://second.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: {KEY}

# Disabled stanza: never used
Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: sid
Components: main

Types: deb
URIs: {SEC}/
Suites: bookworm-security
Components: main
Signed-By: {KEY}
Check-Valid-Until: no
"""

ONE_LINE = f"""# the host's sources, one-line form
deb-src {MAIN} bookworm main
#deb http://commented.example/debian sid main
deb [ arch=amd64 signed-by={KEY} ] {MAIN} bookworm main non-free-firmware # trailing comment
deb [trusted=yes] {SEC} bookworm-security main
deb http://third-party.example/apt stable-repo main
"""


def _etc(tmp_path: Path, files: dict[str, str]) -> Path:
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(text)
    return etc


def test_deb822_stanzas_comments_multiple_uris_and_enabled_no() -> None:
    entries = parse_deb822(DEB822, "debian.sources")
    assert [(e.types, e.uris, e.suites, e.enabled, e.origin) for e in entries] == [
        (("deb", "deb-src"), (MAIN, "http://second.example/debian"), ("bookworm", "bookworm-updates"), True,
         "debian.sources:1"),
        (("deb",), ("http://disabled.example/debian",), ("sid",), False, "debian.sources:9"),
        (("deb",), (f"{SEC}/",), ("bookworm-security",), True, "debian.sources:15"),
    ]  # fmt: skip
    assert entries[0].components == ("main", "contrib")
    assert entries[0].options == {"signed-by": KEY}
    assert entries[2].options == {"signed-by": KEY, "check-valid-until": "no"}


def test_deb822_inline_key_is_kept_and_written_out(tmp_path: Path) -> None:
    text = (
        f"Types: deb\nURIs: {MAIN}\nSuites: sid\nComponents: main\nSigned-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGExample\n -----END PGP PUBLIC KEY BLOCK-----\n"
    )
    (entry,) = parse_deb822(text, "inline.sources")
    assert entry.options["signed-by"].strip().splitlines() == [
        "-----BEGIN PGP PUBLIC KEY BLOCK-----", "", "mQINBGExample", "-----END PGP PUBLIC KEY BLOCK-----",
    ]  # fmt: skip
    mirror = debian_mirror(etc=_etc(tmp_path, {"sources.list.d/inline.sources": text}), environ=NO_ENV)
    with pytest.raises(AptSourcesError, match="inline Signed-By"):
        mirror.archive.line("sid")
    written = mirror.archive.with_key_file(tmp_path / "k.asc")
    assert written.line("sid") == f"deb [signed-by={tmp_path / 'k.asc'}] {MAIN} sid main"
    assert (tmp_path / "k.asc").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGExample")


def test_one_line_form_options_comments_and_types() -> None:
    entries = parse_one_line(ONE_LINE, "sources.list")
    assert [(e.types, e.uris, e.suites, e.components, e.origin) for e in entries] == [
        (("deb-src",), (MAIN,), ("bookworm",), ("main",), "sources.list:2"),
        (("deb",), (MAIN,), ("bookworm",), ("main", "non-free-firmware"), "sources.list:4"),
        (("deb",), (SEC,), ("bookworm-security",), ("main",), "sources.list:5"),
        (("deb",), ("http://third-party.example/apt",), ("stable-repo",), ("main",), "sources.list:6"),
    ]
    assert entries[1].options == {"signed-by": KEY}  # arch= is the lab's own business (amd64)
    assert entries[2].options == {"trusted": "yes"}


def test_one_line_malformed_lines_are_ignored() -> None:
    text = "deb\ndeb [signed-by=/x http://a.example/debian sid main\nrpm http://a.example/ sid main\ndeb http://a/\n"
    assert parse_one_line(text) == []


def test_mirror_from_deb822_host(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    mirror = debian_mirror(etc=etc, environ=NO_ENV)
    assert (mirror.archive.uri, mirror.archive.origin) == (MAIN, f"{etc}/sources.list.d/debian.sources:1")
    assert mirror.security is not None and mirror.security.uri == SEC  # trailing slash dropped
    assert mirror.notes == ()
    text = kernels.sources_list(mirror, tmp_path)
    assert text.splitlines() == [
        f"deb [signed-by={KEY}] {MAIN} bookworm main",
        f"deb [signed-by={KEY}] {MAIN} bookworm-updates main",
        f"deb [signed-by={KEY}] {MAIN} sid main",
        f"deb [signed-by={KEY} check-valid-until=no] {SEC} bookworm-security main",
    ]


def test_mirror_from_one_line_host_skips_deb_src_and_foreign_suites(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": ONE_LINE})
    mirror = debian_mirror(etc=etc, environ=NO_ENV)
    assert (mirror.archive.uri, mirror.archive.origin) == (MAIN, f"{etc}/sources.list:4")
    assert mirror.archive.line("sid") == f"deb [signed-by={KEY}] {MAIN} sid main"
    assert mirror.security is not None and mirror.security.options == {"trusted": "yes"}


def test_apt_order_sources_list_first_then_parts_by_name_and_only_list_or_sources(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list.d/b.list": "deb http://b.example/debian sid main\n",
            "sources.list.d/a.sources": "Types: deb\nURIs: http://a.example/debian\nSuites: trixie\nComponents: main\n",
            "sources.list.d/0.list.disabled": "deb http://disabled.example/debian sid main\n",
            "sources.list.d/nodistro.sources": "Types: deb\nURIs: http://node.example/x\nSuites: nodistro\n"
            "Components: main\n",
        },
    )
    files = [p.name for p in aptsources.source_files(etc)]
    assert files == ["a.sources", "b.list", "nodistro.sources"]
    assert debian_mirror(etc=etc, environ=NO_ENV).archive.uri == "http://a.example/debian"
    (etc / "sources.list").write_text("deb http://first.example/debian bookworm main\n")
    assert debian_mirror(etc=etc, environ=NO_ENV).archive.uri == "http://first.example/debian"


def test_release_suite_wins_over_backports_and_cdrom_is_skipped(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list": "deb http://bp.example/debian bookworm-backports main\n"
            "deb cdrom:[Debian 12]/ bookworm main\n"
            f"deb {MAIN} bookworm main\n",
        },
    )
    assert debian_mirror(etc=etc, environ=NO_ENV).archive.uri == MAIN


def test_no_security_source_is_a_note_not_an_error(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": f"deb {MAIN} bookworm main\n"})
    mirror = debian_mirror(etc=etc, environ=NO_ENV)
    assert mirror.security is None
    assert "no Debian security archive" in mirror.notes[0] and aptsources.SECURITY_ENV in mirror.notes[0]
    assert "bookworm-security" not in kernels.sources_list(mirror, tmp_path)
    with pytest.raises(LabError, match="no Debian security archive"):
        kernels.choose_release(kernels.SERIES["6.1"], ["linux-image-amd64"], mirror.notes)


def test_nothing_usable_names_the_files_read_and_the_overrides(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list": "deb-src http://x.example/debian sid main\n",
            "sources.list.d/debian.sources": "Enabled: no\nTypes: deb\nURIs: http://x.example/debian\n"
            "Suites: sid\nComponents: main\n",
            "sources.list.d/ubuntu.list": "deb http://x.example/ubuntu jammy main\n",
        },
    )
    with pytest.raises(AptSourcesError) as err:
        debian_mirror(etc=etc, environ=NO_ENV)
    message = str(err.value)
    for name in ("sources.list,", "debian.sources", "ubuntu.list", "LAYOUTC_DEBIAN_MIRROR=URL", "--mirror URL"):
        assert name in message
    empty = tmp_path / "empty"
    with pytest.raises(AptSourcesError, match="no sources file: .*empty/sources.list"):
        debian_mirror(etc=empty, environ=NO_ENV)


def test_overrides_environment_and_argument(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    env = {aptsources.MIRROR_ENV: "http://env.example/debian/"}
    mirror = debian_mirror(etc=etc, environ=env)
    assert (mirror.archive.uri, mirror.archive.origin) == ("http://env.example/debian", "$LAYOUTC_DEBIAN_MIRROR")
    assert mirror.security is not None and mirror.security.uri == SEC  # still the host's
    mirror = debian_mirror(etc=etc, environ=env, override="http://arg.example/debian")
    assert (mirror.archive.uri, mirror.archive.origin) == ("http://arg.example/debian", "--mirror")
    mirror = debian_mirror(etc=tmp_path / "empty", environ={**env, aptsources.SECURITY_ENV: "none"})
    assert mirror.security is None and mirror.notes == ("no security archive ($LAYOUTC_DEBIAN_SECURITY_MIRROR=none)",)
    mirror = debian_mirror(etc=tmp_path / "empty", environ={**env, aptsources.SECURITY_ENV: SEC})
    assert mirror.security is not None and mirror.security.uri == SEC
    with pytest.raises(AptSourcesError, match="is not a URI"):
        debian_mirror(etc=etc, environ={aptsources.MIRROR_ENV: "mirror.example debian"})


def test_cached_kernel_never_reads_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("read the apt sources although nothing is downloaded")

    monkeypatch.setattr(kernels, "debian_mirror", fail)
    kdir = tmp_path / "kernels" / "6.1.0-56-cloud-amd64"
    kdir.mkdir(parents=True)
    (kdir / ".complete.json").write_text('{"pinned": true}')
    assert kernels.ensure_kernel("6.1", root=tmp_path).release == "6.1.0-56-cloud-amd64"


def test_kernels_turn_a_missing_mirror_into_a_lab_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(aptsources, "ETC_APT", tmp_path)
    monkeypatch.delenv(aptsources.MIRROR_ENV, raising=False)
    with pytest.raises(LabError) as err:
        kernels.debian_mirror()
    assert err.value.code == "mirror-unavailable" and "--mirror URL" in err.value.message


def test_cli_mirror_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(aptsources.MIRROR_ENV, "http://before.example/debian")  # restored after the test
    assert main_lab(["--layout-dir", str(tmp_path), "--mirror", "not a uri"]) == 2
    assert "--mirror: 'not a uri' is not a URI" in capsys.readouterr().err
    code = main_lab(["--layout-dir", str(tmp_path / "missing"), "--mirror", "http://mirror.example/debian/"])
    assert code == 1  # the layout is missing; the flag was taken
    assert os.environ[aptsources.MIRROR_ENV] == MAIN


def test_module_runs_as_a_plain_script_for_shell_callers(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    script = Path(aptsources.__file__)
    argv = [sys.executable, "-I", str(script), "--etc", str(etc), "--line", "sid"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYOUTC_DEBIAN")}
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    assert out == f"deb [signed-by={KEY}] {MAIN} sid main\n"
    bad = subprocess.run([*argv[:3], "--etc", str(tmp_path / "none")], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "LAYOUTC_DEBIAN_MIRROR" in bad.stderr
