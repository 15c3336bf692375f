"""A byte-level BPE from a ``tokenizers`` JSON as a tiktoken ``Encoding``, only where every id is the same.

tiktoken (several times faster, releases the GIL) joins the lowest-ranked adjacent pair that is *any* token, not
only a named merge; with ids as ranks it gives ``tokenizers``' ids on every text when, merging each merged token's
bytes alone, it joins last the two parts that token's merge names (by induction on length). That is checked
with tiktoken itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

# The regex of tokenizers' ByteLevel pre-tokenizer (use_regex=true): GPT-2's split.
BYTE_LEVEL_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_MODEL_OPTIONS = ("dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback", "ignore_merges")


def tiktoken_encoding(hf: dict[str, Any]) -> tuple[tiktoken.Encoding | None, str]:
    """(encoding, "") when tiktoken gives exactly the ids of ``hf`` (a tokenizers JSON), else (None, why not)."""
    import tiktoken

    model, pre = hf.get("model") or {}, hf.get("pre_tokenizer") or {}
    refusals = {
        f"its model is {model.get('type')!r}, not BPE": model.get("type") != "BPE",
        "it has a normalizer": hf.get("normalizer") is not None,
        "its pre-tokenizer is not ByteLevel with GPT-2's split and no prefix space": (
            pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True)
        ),
        "its BPE model has " + "/".join(_MODEL_OPTIONS): any(model.get(k) for k in _MODEL_OPTIONS),
        "it has non-special added tokens, which match inside text": any(not t.get("special") for t in hf.get("added_tokens") or []),
    }
    for why, refused in refusals.items():
        if refused:
            return None, why
    byte_of = {symbol: b for b, symbol in _byte_symbols().items()}
    vocab: dict[str, int] = model.get("vocab") or {}
    try:
        ranks = {bytes([b]): vocab[symbol] for symbol, b in byte_of.items()}
        merges: list[tuple[bytes, bytes, bytes]] = []
        for merge in model.get("merges") or []:
            a, b = merge.split(" ") if isinstance(merge, str) else merge
            left, right = bytes(byte_of[c] for c in a), bytes(byte_of[c] for c in b)
            merges.append((left, right, left + right))
            ranks[left + right] = vocab[a + b]
    except (KeyError, ValueError):
        return None, "its vocabulary is not the byte-level alphabet and its merges"
    ids = [ranks[token] for _, _, token in merges]
    if any(a >= b for a, b in zip(ids, ids[1:])) or len(set(ranks.values())) < len(ranks):
        return None, "its merges' tokens do not have increasing ids, distinct from the bytes' ids"
    why = _first_unnamed_merge(merges, ranks)
    if why:
        return None, why
    specials = {str(t["content"]): int(t["id"]) for t in hf.get("added_tokens") or []}
    return tiktoken.Encoding("gptlab-bpe", pat_str=BYTE_LEVEL_SPLIT, mergeable_ranks=ranks, special_tokens=specials), ""


def _first_unnamed_merge(merges: list[tuple[bytes, bytes, bytes]], ranks: dict[bytes, int]) -> str:
    """Why not, if tiktoken would not join last the parts a merge names; "" if it always would."""
    import tiktoken

    by_length: dict[int, list[tuple[bytes, bytes, bytes]]] = {}
    for merge in merges:
        by_length.setdefault(len(merge[2]), []).append(merge)
    shorter = {token: rank for token, rank in ranks.items() if len(token) == 1}
    for n, same_length in sorted(by_length.items()):
        # With no token as long as n, tiktoken stops merging a token's n bytes at the two
        # parts it would join last (a piece that is not a token goes through the merges).
        check = tiktoken.Encoding(f"check-{n}", pat_str=".", mergeable_ranks=shorter, special_tokens={})
        for left, right, token in same_length:
            if check._encode_single_piece(token) != [ranks[left], ranks[right]]:
                return f"tiktoken would not build the token {token!r} from {left!r} + {right!r} as its merge does"
        shorter.update((token, ranks[token]) for _, _, token in same_length)
    return ""


def _byte_symbols() -> dict[int, str]:
    """tokenizers' (GPT-2's) byte -> printable symbol map: the ByteLevel alphabet."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    symbols = {b: chr(b) for b in printable}
    symbols.update({b: chr(256 + n) for n, b in enumerate(b for b in range(256) if b not in symbols)})
    return symbols
