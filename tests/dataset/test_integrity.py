"""meta.json records each split's size and sha256; every reader checks them; meta.json checks itself."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gptlab.dataset import check_split, load_meta, open_split
from gptlab.dataset.tokens import open_tokens
from gptlab.errors import DataError
from tests.helpers import run_stage


@pytest.fixture
def processed(built_data: Path, tmp_path: Path) -> Path:
    d = tmp_path / "processed"
    shutil.copytree(built_data / "data/processed", d)
    return d


def test_meta_records_size_and_sha256_of_each_split(processed):
    meta = load_meta(processed / "meta.json")
    assert meta.format_version == 2
    for split in ("train", "val", "test"):
        data = (processed / f"{split}.bin").read_bytes()
        assert meta.files[split] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        assert meta.files[split]["bytes"] == meta.tokens[split] * 2  # uint16


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda b: b[: len(b) // 2], "bytes but"),  # cut to an even length: silently half the data before
        (lambda b: b[:-1], "bytes but"),  # an odd length: a numpy traceback before
        (lambda b: b + b"\0\0", "bytes but"),
        (lambda b: b[:100] + bytes([b[100] ^ 0x01]) + b[101:], "sha256"),  # one bit, same size
    ],
    ids=["truncated-even", "truncated-odd", "extended", "bit-flip"],
)
def test_a_damaged_split_is_refused_naming_file_expected_found_and_the_fix(processed, damage, words):
    meta = load_meta(processed / "meta.json")
    path = processed / "train.bin"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as info:
        open_split(processed, meta, "train")
    msg = str(info.value)
    assert str(path) in msg and words in msg and "dvc repro build" in msg and "\n" not in msg
    assert "meta.json says" in msg  # what was expected, next to what was found


def test_size_only_verification_is_a_documented_switch(processed, monkeypatch):
    meta = load_meta(processed / "meta.json")
    path = processed / "val.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x04
    path.write_bytes(bytes(data))
    monkeypatch.setenv("GPTLAB_DATA_VERIFY", "size")
    assert check_split(processed, meta, "val") == path  # same size: passes without the hash
    monkeypatch.setenv("GPTLAB_DATA_VERIFY", "sha256")
    with pytest.raises(DataError, match="sha256"):
        check_split(processed, meta, "val")


def test_a_format_1_meta_still_loads_and_its_splits_are_checked_by_size(processed):
    raw = json.loads((processed / "meta.json").read_text())
    for key in ("files", "meta_sha256"):
        raw.pop(key)
    raw["format_version"] = 1
    (processed / "meta.json").write_text(json.dumps(raw))
    meta = load_meta(processed / "meta.json")
    assert meta.files is None
    assert len(open_split(processed, meta, "train")) == meta.tokens["train"]
    (processed / "train.bin").write_bytes((processed / "train.bin").read_bytes()[:-2])
    with pytest.raises(DataError, match="bytes but"):
        open_split(processed, meta, "train")


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b[:-3], lambda b: b + b"\n{}", lambda b: b.replace(b'"format_version": 2', b'"format_version": 99')],
    ids=["truncated", "truncated-end", "extended", "future-format"],
)
def test_a_damaged_meta_json_is_refused(processed, damage):
    path = processed / "meta.json"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match="dvc repro build"):
        load_meta(path)


def test_a_bit_flip_anywhere_in_meta_json_is_caught(processed):
    """A flipped bit in any byte (each byte a different bit): a JSON error, a checksum mismatch or
    a bad field; never a silent load."""
    path = processed / "meta.json"
    good = path.read_bytes()
    silent = []
    for i in range(len(good)):
        damaged = bytearray(good)
        damaged[i] ^= 1 << (i % 8)
        path.write_bytes(bytes(damaged))
        try:
            load_meta(path)
            silent.append(i)
        except DataError:
            pass
    assert silent == []
    path.write_bytes(good)
    load_meta(path)


def test_open_tokens_refuses_a_partial_token(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(np.arange(10, dtype=np.uint16).tobytes() + b"\1")
    with pytest.raises(DataError, match="not a whole number of uint16 tokens"):
        open_tokens(p, "uint16")


def test_corpus_sha256_is_the_hash_of_the_bytes_build_read(built_data, workdir, caplog):
    """Defect 6: after corpus.txt is edited by hand, the lineage names the edited text, not corpus.json's."""
    for name in ("data", "artifacts"):
        shutil.copytree(built_data / name, workdir / name)
    corpus = workdir / "data/raw/corpus.txt"
    recorded = json.loads((workdir / "data/raw/corpus.json").read_text())["sha256"]
    corpus.write_text(corpus.read_text(encoding="utf-8") + "ROMEO:\nA line added by hand.\n", encoding="utf-8")

    run_stage("build", "data=file", "data.path=corpus.txt")
    meta = load_meta(workdir / "data/processed/meta.json")
    assert meta.corpus_sha256 == hashlib.sha256(corpus.read_bytes()).hexdigest() != recorded
    assert sum(meta.characters.values()) == len(corpus.read_text(encoding="utf-8"))  # the added line is in a split
    assert "is not the text its metadata describes" in caplog.text
