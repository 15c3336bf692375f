"""Score a model on the ``build`` stage's held-out splits, after checking they belong together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gptlab.dataset import DatasetMeta
from gptlab.errors import CheckpointError
from gptlab.evaluation.metrics import SplitMetrics
from gptlab.dataset.integrity import open_split
from gptlab.evaluation.scoring import score_tokens

log = logging.getLogger(__name__)


def model_tokenizer_sha256(loaded: Any) -> str:
    """The tokenizer hash the model directory records (else its tokenizer file's hash)."""
    digest = (loaded.info.get("lineage") or {}).get("tokenizer_sha256")
    if digest:
        return str(digest)
    from gptlab.checkpoint.model_dir import TOKENIZER
    from gptlab.io import sha256_file

    return sha256_file(Path(loaded.path) / TOKENIZER)


def check_model_matches_dataset(loaded: Any, meta: DatasetMeta, meta_path: str | Path) -> None:
    """Refuse a dataset of another tokenizer than the model's: its ids would score, meaninglessly."""
    model_sha = model_tokenizer_sha256(loaded)
    if model_sha != meta.tokenizer_sha256:
        raise CheckpointError(
            f"model {loaded.path} was trained with a different tokenizer than the dataset {meta_path} "
            f"(tokenizer sha256 {model_sha[:12]}… vs {meta.tokenizer_sha256[:12]}…): "
            "evaluate a model trained on this dataset, or rebuild the dataset with the model's tokenizer"
        )
    if loaded.model.config.vocab_size != meta.vocab_size:  # same tokenizer, so only a corrupt file gets here
        raise CheckpointError(
            f"model vocabulary {loaded.model.config.vocab_size} != dataset vocabulary {meta.vocab_size}"
        )


def scored_characters(tokenizer: Any, tokens: Any, characters: int) -> int:
    """Characters covered by every token but the (unscored) first: exact for char tokenizers,
    off by at most one character a byte-level BPE splits across the first two tokens."""
    if len(tokens) < 2:
        return 0
    first = len(tokenizer.decode([int(tokens[0])]))
    return max(0, characters - first)


def evaluate_dataset(
    loaded: Any,
    processed_dir: str | Path,
    meta: DatasetMeta,
    splits: tuple[str, ...] = ("val", "test"),
    *,
    batch_size: int = 32,
    stride: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, SplitMetrics]:
    """``{split: metrics}`` for each non-empty split in ``splits``."""
    processed_dir = Path(processed_dir)
    check_model_matches_dataset(loaded, meta, processed_dir / "meta.json")
    results: dict[str, SplitMetrics] = {}
    for split in splits:
        # Checked against meta.json (size, and sha256) before a single token is scored.
        tokens = open_split(processed_dir, meta, split)
        if len(tokens) < 2:
            log.info("the %s split is empty (%d tokens): skipped", split, len(tokens))
            continue
        score = score_tokens(
            loaded.model, tokens, batch_size=batch_size, stride=stride, device=device, progress=progress,
            desc=f"eval {split}",
        )  # fmt: skip
        characters = scored_characters(loaded.tokenizer, tokens, int(meta.characters.get(split, 0)))
        results[split] = SplitMetrics.from_totals(score.nll, score.tokens, characters)
    return results
