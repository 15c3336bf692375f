"""Tiny models and tokenizers for the Hugging Face tests, saved to temporary directories.

Nothing is downloaded: gptlab models are built here with random weights, and the
"pretrained" GPT-2 directories are made by ``transformers`` itself (``save_pretrained``)
from a byte-level BPE trained here with ``tokenizers``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from gptlab.model import GPT
from gptlab.tokenizer import Tokenizer
from tests.helpers import SMALL_CORPUS, model_config, tokenizer_config

pytest.importorskip("transformers")

# Enough characters for the char tokenizer to see every one the tests' prompts use.
CORPUS = SMALL_CORPUS
UNSEEN = "Zebra café 日本 🎉 <unk> <|endoftext|>\t~"


@pytest.fixture(scope="session")
def char_tokenizer() -> Tokenizer:
    from gptlab.tokenizer import train_tokenizer

    return train_tokenizer(tokenizer_config("char"), CORPUS)


@pytest.fixture(scope="session")
def bpe_tokenizer() -> Tokenizer:
    from gptlab.tokenizer import train_tokenizer

    return train_tokenizer(tokenizer_config("bpe", vocab_size=300), CORPUS)


def random_model(vocab_size: int, seed: int = 0, scale: float = 0.2, **overrides: Any) -> GPT:
    """A tiny GPT with large random weights (so every weight, bias and position shows in the logits)."""
    values = dict(vocab_size=vocab_size, context_size=16, n_layer=2, n_head=2, n_embd=16)
    torch.manual_seed(seed)
    model = GPT(model_config("tiny", **{**values, **overrides}))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    return model.eval()


@pytest.fixture
def make_model_dir(tmp_path: Path) -> Callable[..., Path]:
    """A gptlab model directory with a random tiny model and the given tokenizer."""
    from gptlab.checkpoint import save_model_dir

    count = 0

    def make(tokenizer: Tokenizer, **overrides: Any) -> Path:
        nonlocal count
        count += 1
        tok_file = tmp_path / f"tokenizer{count}.json"
        tokenizer.save(tok_file)
        model = random_model(tokenizer.vocab_size, **overrides)
        return save_model_dir(model, tok_file, tmp_path / f"model{count}")

    return make


def hf_bpe_tokenizer(vocab_size: int = 300):
    """A GPT-2-style byte-level BPE (end of text as the last id), as a transformers tokenizer."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([CORPUS], trainer=trainer)
    tok.add_special_tokens(["<|endoftext|>"])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )


def save_hf_gpt2(out: Path, seed: int = 0, scale: float = 0.2, **config: Any) -> Path:
    """A random ``GPT2LMHeadModel`` and its tokenizer, saved by transformers to ``out``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = hf_bpe_tokenizer()
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    values = dict(
        vocab_size=len(tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=eot, eos_token_id=eot, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**{**values, **config})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, scale)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def hf_gpt2_dir(tmp_path: Path) -> Path:
    return save_hf_gpt2(tmp_path / "gpt2")


@pytest.fixture(scope="session")
def gpt2_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: a Hugging Face GPT-2 (``gpt2/``) and, beside it, prepare -> tokenize (its
    tokenizer, copied) -> build on the small corpus (copy it with ``copy_built`` to write)."""
    import contextlib

    from tests.helpers import run_stage

    root = tmp_path_factory.mktemp("gpt2-built")
    gpt2 = save_hf_gpt2(root / "gpt2")
    (root / "corpus.txt").write_text(SMALL_CORPUS * 4, encoding="utf-8")
    with contextlib.chdir(root):
        for stage in ("prepare", "tokenize", "build"):
            run_stage(stage, "experiment=finetune", "data=file", "data.path=corpus.txt", f"train.init_from={gpt2}")
    return root
