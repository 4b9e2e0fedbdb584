from __future__ import annotations

import pytest

from matrixgen import identity


@pytest.fixture(autouse=True)
def no_secret(monkeypatch):
    monkeypatch.delenv(identity.SECRET_ENV, raising=False)


def refused(tmp_path):
    with pytest.raises(identity.KeyError_) as caught:
        identity.load_key(tmp_path)
    return caught.value.problem


@pytest.mark.parametrize("secret", ["x", "k" * 31])
def test_load_key__secret_under_32_bytes__refused_saying_how_to_make_one(tmp_path, monkeypatch, secret):
    monkeypatch.setenv(identity.SECRET_ENV, secret)
    found = refused(tmp_path)
    assert (found.code, found.location) == ("MG-GEN-003", identity.SECRET_ENV)
    assert identity.MAKE_KEY in found.message


def test_load_key__secret_of_32_bytes__used_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv(identity.SECRET_ENV, "k" * 32)
    assert identity.load_key(tmp_path) == b"k" * 32


def test_load_key__key_file_of_16_bytes__refused(tmp_path):
    (tmp_path / identity.KEY_FILE).write_text("ab" * 16 + "\n")
    found = refused(tmp_path)
    assert (found.code, found.location) == ("MG-GEN-003", str(tmp_path / identity.KEY_FILE))


def test_load_key__key_file_not_hex__refused_with_its_path(tmp_path):
    (tmp_path / identity.KEY_FILE).write_text("not a key\n")
    found = refused(tmp_path)
    assert (found.code, found.location) == ("MG-GEN-002", str(tmp_path / identity.KEY_FILE))


def test_load_key__made_on_first_use__32_bytes_and_accepted_again(tmp_path):
    key = identity.load_key(tmp_path)
    assert len(key) == identity.MIN_KEY_BYTES == 32 and identity.load_key(tmp_path) == key
