"""Collecting submissions from a zip: nbgrader's layouts, and nothing unsafe ever written."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from grading import collect

A = "01_derivatives"
NB = "derivatives.ipynb"
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def make_zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_folder_layouts_and_timestamps(tmp_path) -> None:
    archive = make_zip(tmp_path / "a.zip", {
        f"submitted/alice/{A}/{NB}": NOTEBOOK,
        f"submitted/alice/{A}/timestamp.txt": b"2026-01-10 12:00:00",
        f"bob/{NB}": NOTEBOOK,
        f"carol/{A}/data.csv": b"x,y\n",
        f"carol/{A}/{NB}": NOTEBOOK,
        f"carol/{A}/.ipynb_checkpoints/{NB}": NOTEBOOK,
    })
    target = tmp_path / "submitted"
    result = collect.collect(archive, A, target, notebooks=["derivatives"])
    assert files_under(target) == {f"alice/{A}/{NB}", f"alice/{A}/timestamp.txt", f"bob/{A}/{NB}",
                                   f"carol/{A}/data.csv", f"carol/{A}/{NB}"}
    assert (target / "alice" / A / "timestamp.txt").read_text() == "2026-01-10 12:00:00"
    assert sorted(result.students) == ["alice", "bob", "carol"]
    assert result.refused == [] and result.problems == {}


def test_lms_file_names_with_attempt_timestamps_and_nested_zips(tmp_path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr(NB, NOTEBOOK)
    archive = make_zip(tmp_path / "lms.zip", {
        f"dave_{NB}": NOTEBOOK,
        f"erin_attempt_2026-01-11-09-30-00_{NB}": NOTEBOOK,
        "frank.zip": inner.getvalue(),
    })
    target = tmp_path / "submitted"
    result = collect.collect(archive, A, target, notebooks=["derivatives"])
    assert files_under(target) == {f"dave/{A}/{NB}", f"erin/{A}/{NB}", f"erin/{A}/timestamp.txt", f"frank/{A}/{NB}"}
    assert (target / "erin" / A / "timestamp.txt").read_text() == "2026-01-11-09-30-00"
    assert result.refused == [] and result.problems == {}


def test_unsafe_entries_are_refused_and_nothing_escapes(tmp_path) -> None:
    archive = make_zip(tmp_path / "evil.zip", {
        f"../../escape_{NB}": NOTEBOOK,
        f"/abs/{NB}": NOTEBOOK,
        f"C:/win_{NB}": NOTEBOOK,
        f"ok/{A}/../../../up_{NB}": NOTEBOOK,
        f"bad$id/{A}/{NB}": NOTEBOOK,
        f"gina/{A}/other.ipynb": NOTEBOOK,
        f"gina/{A}/run.exe": b"MZ",
    }, symlinks={f"harry/{A}/{NB}": "/etc/passwd"})
    target = tmp_path / "inside" / "submitted"
    # Two notebooks: a notebook that is neither, nor one of them renamed, is refused (with one, it would be kept
    # for intake.match_notebooks: the only notebook of a one-notebook unit is that notebook, renamed).
    result = collect.collect(archive, A, target, notebooks=["derivatives", "summary"])
    reasons = dict(result.refused)
    assert reasons[f"../../escape_{NB}"] == "unsafe path"
    assert reasons[f"/abs/{NB}"] == "unsafe path"
    assert reasons[f"C:/win_{NB}"] == "unsafe path"
    assert reasons[f"ok/{A}/../../../up_{NB}"] == "unsafe path"
    assert reasons[f"harry/{A}/{NB}"] == "symlink or special file"
    assert "invalid student id" in reasons[f"bad$id/{A}/{NB}"]
    assert "not a notebook of" in reasons[f"gina/{A}/other.ipynb"]
    assert reasons[f"gina/{A}/run.exe"] == "file type not collected"
    assert files_under(tmp_path) == {"evil.zip"}


def test_an_existing_symlink_in_the_target_is_replaced_not_followed(tmp_path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    folder = tmp_path / "submitted" / "ivy" / A
    folder.mkdir(parents=True)
    (folder / NB).symlink_to(outside)
    archive = make_zip(tmp_path / "a.zip", {f"ivy/{A}/{NB}": NOTEBOOK})
    collect.collect(archive, A, tmp_path / "submitted", notebooks=["derivatives"])
    assert outside.read_text() == "keep me"
    assert not (folder / NB).is_symlink() and (folder / NB).read_bytes() == NOTEBOOK


def test_a_symlinked_student_folder_is_not_followed(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "submitted").mkdir()
    (tmp_path / "submitted" / "jack").symlink_to(elsewhere, target_is_directory=True)
    archive = make_zip(tmp_path / "a.zip", {f"jack/{A}/{NB}": NOTEBOOK})
    result = collect.collect(archive, A, tmp_path / "submitted", notebooks=["derivatives"])
    assert list(elsewhere.iterdir()) == []
    assert "symlink" in dict(result.refused)[f"jack/{NB}"]


def test_size_limits_and_zip_bombs(tmp_path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {f"kim/{A}/{NB}": b"0" * (8 << 20), f"lee/{A}/{NB}": NOTEBOOK})
    result = collect.collect(bomb, A, tmp_path / "s1", notebooks=["derivatives"])
    assert "compression ratio" in dict(result.refused)[f"kim/{A}/{NB}"]
    assert sorted(result.students) == ["lee"]
    assert "compression ratio" in result.problems["kim"], "an unreadable notebook makes its student malformed"
    big = make_zip(tmp_path / "big.zip", {f"kim/{A}/{NB}": bytes(range(256)) * 8192})
    result = collect.collect(big, A, tmp_path / "s2", notebooks=["derivatives"],
                             limits=collect.Limits(max_file_bytes=1 << 20))
    assert "larger than" in dict(result.refused)[f"kim/{A}/{NB}"]
    many = make_zip(tmp_path / "many.zip", {f"s{i}/{A}/{NB}": NOTEBOOK for i in range(30)})
    with pytest.raises(collect.UnsafeArchive, match="entries"):
        collect.collect(many, A, tmp_path / "s3", limits=collect.Limits(max_entries=10))
    assert not (tmp_path / "s3").exists(), "an archive refused as a whole must write nothing"
    with pytest.raises(collect.UnsafeArchive, match="not a valid zip"):
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        collect.collect(tmp_path / "junk.zip", A, tmp_path / "s4")
