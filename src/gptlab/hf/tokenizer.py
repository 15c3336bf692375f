"""A gptlab tokenizer as a Hugging Face fast tokenizer (JSON only): ``AutoTokenizer`` then encodes as gptlab does.

A char tokenizer becomes a BPE model without merges (no pre-tokenizer: BPE looks up each
character) and a ``Fuse`` decoder. A Hugging Face tokenizer cannot raise, so ``unk_policy=error``
exports as ``replace`` (``<unk>``, or dropped with a warning when there is none).
``split_special_tokens`` keeps "<|endoftext|>" in a text ordinary characters, as in gptlab:
no input can forge a control token. End of text is both ``bos_token`` and ``eos_token`` (GPT-2's convention).
"""

from __future__ import annotations

import logging
from typing import Any

from gptlab.tokenizer.base import Tokenizer, dumps_json
from gptlab.tokenizer.char import REPLACEMENT_CHARACTER
from gptlab.tokenizer.config import EOT_TOKEN, PAD_TOKEN, UNK_TOKEN

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
# Hugging Face's flags for each special token: matched whole, never normalized.
ADDED_TOKEN = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}


def tokenizer_files(tokenizer: Tokenizer, context_size: int) -> dict[str, str]:
    """File name -> text of the Hugging Face tokenizer files for ``tokenizer``."""
    roles = special_token_roles(tokenizer)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": context_size,
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,
        "add_bos_token": False,
        "add_eos_token": False,
        **roles,
    }
    return {
        TOKENIZER_FILE: dumps_json(tokenizer_json(tokenizer)),
        TOKENIZER_CONFIG: dumps_json(config),
        SPECIAL_TOKENS_MAP: dumps_json(roles),
    }


def special_token_roles(tokenizer: Tokenizer) -> dict[str, str]:
    """``bos_token`` / ``eos_token`` / ``unk_token`` / ``pad_token`` -> token text, where present."""
    wanted = {"bos_token": EOT_TOKEN, "eos_token": EOT_TOKEN, "unk_token": UNK_TOKEN, "pad_token": PAD_TOKEN}
    return {role: token for role, token in wanted.items() if token in tokenizer.special_tokens}


def tokenizer_json(tokenizer: Tokenizer) -> dict[str, Any]:
    """The ``tokenizers`` JSON object equivalent to ``tokenizer``."""
    data = tokenizer.to_dict()
    if data["kind"] == "bpe":
        return data["tokenizer"]
    return char_tokenizer_json(data["chars"], data["special_tokens"])


def char_tokenizer_json(chars: list[str], special_tokens: list[str]) -> dict[str, Any]:
    """A BPE model without merges whose vocabulary is the specials, then the characters."""
    has_unk = UNK_TOKEN in special_tokens
    if not has_unk:
        log.warning(
            "the char tokenizer has no %s token: the exported tokenizer drops characters it has never seen",
            UNK_TOKEN,
        )
    vocab = {token: i for i, token in enumerate([*special_tokens, *chars])}
    decoders: list[dict[str, Any]] = []
    if has_unk:
        decoders.append({"type": "Replace", "pattern": {"String": UNK_TOKEN}, "content": REPLACEMENT_CHARACTER})
    decoders.append({"type": "Fuse"})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": token, **ADDED_TOKEN} for i, token in enumerate(special_tokens)],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": UNK_TOKEN if has_unk else None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }
