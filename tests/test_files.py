"""The data directory's files: private modes whatever the umask, atomic writes, paths that stay put."""

from __future__ import annotations

import os
import stat

import pytest

from matrixgen.files import (
    UnsafePath,
    atomic_open,
    create_private,
    discard_partial,
    inside,
    private_dir,
    valid_label,
    write_private,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o000)
    yield
    os.umask(old)


@pytest.mark.parametrize("label", ["2026", "2026-fall", "a", "NE-IT", "x.y_z-1", "A" * 40])
def test_valid_label__good_labels__accepted(label):
    assert valid_label(label)


@pytest.mark.parametrize("label", ["", ".", "..", "-x", ".hidden", "_x", "a/b", "a\\b", "a b", "é", "A" * 41,
                                   "2026\n", "a\x00"])
def test_valid_label__bad_labels__refused(label):
    assert not valid_label(label)


def test_inside__plain_parts__joined(tmp_path):
    assert inside(tmp_path, "outbox", "2026") == (tmp_path / "outbox" / "2026").resolve()


@pytest.mark.parametrize("parts", [("..",), (".",), ("",), ("a/../../b",), ("..", "x"), ("/etc",), ("a\\..",)])
def test_inside__escaping_parts__refused(tmp_path, parts):
    with pytest.raises(UnsafePath):
        inside(tmp_path, *parts)


def test_inside__link_out_of_folder__refused(tmp_path):
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "out").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafePath):
        inside(tmp_path / "box", "out")


def test_private_dir__open_umask__new_folders_0700(tmp_path, open_umask):
    made = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(made) == 0o700


def test_write_private__open_umask__file_0600(tmp_path, open_umask):
    path = write_private(tmp_path / "data" / "x.csv", "a,b\n")
    assert path.read_text() == "a,b\n" and mode(path) == 0o600 and mode(path.parent) == 0o700


def test_atomic_open__exception_inside__nothing_left(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as fh:
            fh.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_create_private__existing__kept(tmp_path):
    target = tmp_path / "a.xlsx"
    assert create_private(target, b"first") is True
    assert create_private(target, b"second") is False
    assert target.read_bytes() == b"first"


def test_discard_partial__killed_writer__its_temporary_file_removed_only(tmp_path):
    for name in (".r-1.pdf.x1y2.part", ".r-10.pdf.x1y2.part", "r-1.pdf"):
        (tmp_path / name).write_bytes(b"")
    discard_partial(tmp_path / "r-1.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r-10.pdf.x1y2.part", "r-1.pdf"]
