"""The tokenizer of a pretrained model (``tokenizer=pretrained tokenizer.path=PATH``): a fine-tune reads text as it did.

PATH is a gptlab or Hugging Face model directory, or its tokenizer.json. Understood: byte-level BPE (GPT-2's or
gptlab's export; the specials are the added tokens marked ``special``) and gptlab's exported char tokenizer (a BPE
without merges, read back with ``unk_policy="replace"`` as the export maps unseen characters to ``<unk>``).
Anything else is refused: gptlab's tokenizers promise ``decode(encode(text)) == text``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptlab.errors import TokenizerError
from gptlab.tokenizer.base import FORMAT_NAME, Tokenizer
from gptlab.tokenizer.config import UNK_TOKEN

TOKENIZER_FILE = "tokenizer.json"


def pretrained_tokenizer_file(path: str | Path) -> Path:
    """``path`` itself if it is a file, else the ``tokenizer.json`` inside the directory."""
    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
        if not path.is_file():
            raise TokenizerError(f"{path.parent} has no {TOKENIZER_FILE}: it holds no tokenizer to fine-tune with")
        return path
    if not path.exists():
        raise TokenizerError(f"pretrained tokenizer not found: {path} (a model directory or its {TOKENIZER_FILE})")
    return path


def load_pretrained_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer at ``path`` (see the module docstring), whatever its format."""
    from gptlab.tokenizer.serialization import load_tokenizer

    file = pretrained_tokenizer_file(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerError(f"{file} is not a tokenizer JSON file ({type(exc).__name__})") from None
    if isinstance(data, dict) and data.get("format") == FORMAT_NAME:
        return load_tokenizer(file)
    try:
        return tokenizer_from_hf_json(data)
    except TokenizerError as exc:
        raise TokenizerError(f"{file}: {exc}") from None


def tokenizer_from_hf_json(data: Any) -> Tokenizer:
    """A gptlab tokenizer equivalent to a Hugging Face ``tokenizer.json`` (parsed)."""
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TokenizerError("not a Hugging Face tokenizer.json (no 'model' object)")
    model = data["model"]
    if model.get("type") != "BPE":
        raise TokenizerError(
            f"a {model.get('type')!r} tokenizer cannot be used: gptlab reads byte-level BPE (GPT-2's) "
            "and the char tokenizers it exports"
        )
    if data.get("normalizer") is not None:
        raise TokenizerError("its normalizer rewrites the text before encoding, so decoding would not give it back")
    specials = _special_tokens(data)
    if _is_char_layout(data):
        return _char_tokenizer(model, specials)
    pre = _byte_level_parts(data.get("pre_tokenizer"))
    if pre and _byte_level_parts(data.get("decoder")):
        if any(p.get("add_prefix_space") for p in pre):
            raise TokenizerError(
                "its pre-tokenizer adds a space before the text (add_prefix_space), so decoding would not give it back"
            )
        return _bpe_tokenizer(data, specials)
    raise TokenizerError(
        "a BPE tokenizer that is neither byte-level (GPT-2's ByteLevel pre-tokenizer and decoder) "
        "nor a gptlab char tokenizer cannot be used"
    )


def _special_tokens(data: dict) -> list[str]:
    added = [t for t in data.get("added_tokens") or [] if isinstance(t, dict) and t.get("special")]
    return [str(t["content"]) for t in sorted(added, key=lambda t: int(t["id"]))]


def _byte_level_parts(component: Any) -> list[dict]:
    """The ByteLevel steps of a pre-tokenizer or decoder (a Sequence included)."""
    if not isinstance(component, dict):
        return []
    if component.get("type") == "ByteLevel":
        return [component]
    parts = component.get("pretokenizers") or component.get("decoders") or []
    return [found for part in parts for found in _byte_level_parts(part)]


def _is_char_layout(data: dict) -> bool:
    """What :func:`gptlab.hf.tokenizer.char_tokenizer_json` writes: no pre-tokenizer, no merges."""
    decoder = data.get("decoder") or {}
    fuses = decoder.get("type") == "Fuse" or any(d.get("type") == "Fuse" for d in decoder.get("decoders") or [])
    return data.get("pre_tokenizer") is None and not data["model"].get("merges") and fuses


def _char_tokenizer(model: dict, specials: list[str]) -> Tokenizer:
    from gptlab.tokenizer.char import CharTokenizer

    by_id = sorted((int(i), str(t)) for t, i in (model.get("vocab") or {}).items())
    if [i for i, _ in by_id] != list(range(len(by_id))):
        raise TokenizerError("the char vocabulary's ids are not 0..n-1")
    tokens = [t for _, t in by_id]
    if tokens[: len(specials)] != specials:
        raise TokenizerError("a char tokenizer must give its special tokens the lowest ids, in order")
    policy = "replace" if UNK_TOKEN in specials and model.get("unk_token") == UNK_TOKEN else "error"
    return CharTokenizer(tokens[len(specials) :], specials, policy)


def _bpe_tokenizer(data: dict, specials: list[str]) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    from gptlab.tokenizer.bpe import BpeTokenizer

    try:
        tok = HFTokenizer.from_str(json.dumps(data))
    except Exception as exc:  # tokenizers raises plain Exception for a bad file
        raise TokenizerError(f"the tokenizer does not load: {' '.join(str(exc).split())}") from None
    return BpeTokenizer(tok, specials)


def copy_pretrained_tokenizer(path: str | Path, dest: str | Path) -> Tokenizer:
    """Check the tokenizer at ``path`` (in a model directory: it covers exactly the model's vocabulary) and
    save it to ``dest`` in gptlab's format."""
    tokenizer = load_pretrained_tokenizer(path)
    expected = _model_vocab_size(Path(path))
    if expected is not None and expected != tokenizer.vocab_size:
        raise TokenizerError(
            f"{pretrained_tokenizer_file(path)} has {tokenizer.vocab_size:,} tokens but the model in {path} has a "
            f"vocabulary of {expected:,}: the tokenizer does not belong to that model"
        )
    tokenizer.save(dest)
    return tokenizer


def _model_vocab_size(path: Path) -> int | None:
    """``vocab_size`` of the model in directory ``path`` (gptlab or Hugging Face), if any."""
    config = path / "config.json"
    if not path.is_dir() or not config.is_file():
        return None
    try:
        info = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenizerError(f"{config} is corrupt: cannot check the tokenizer against the model") from None
    if not isinstance(info, dict):
        return None
    size = (info.get("model") or {}).get("vocab_size") if "model_type" not in info else info.get("vocab_size")
    return int(size) if isinstance(size, int) else None
