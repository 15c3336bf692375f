"""Generate text from a trained model, streamed to the terminal: ``python -m gptlab.generate``.

    python -m gptlab.generate prompt="ROMEO:" max_new_tokens=40 decoding=greedy
    python -m gptlab.generate prompt="ROMEO:" decoding=sample temperature=0.8 top_k=40 num_samples=3 seed=1
    python -m gptlab.generate prompt="ROMEO:" decoding=beam num_beams=8
    python -m gptlab.generate interactive=true model_dir=path/to/model

Config. The defaults live in the ``generate:`` section of conf/config.yaml (so they show
in params.yaml next to everything else). This CLI composes ``conf/generate.yaml``: the
main config plus a top-level shorthand for each key of that section -- ``model_dir``,
``prompt``, ``decoding`` (greedy | sample | beam), ``max_new_tokens``, ``temperature``,
``top_k``, ``top_p``, ``repetition_penalty``, ``num_beams``, ``length_penalty``,
``num_samples``, ``seed``, ``interactive``, ``device``, ``cache_window`` (exact |
chunked: past the context, chunked re-fills the KV cache from the last half of the
context instead of recomputing the full window every token: much faster, slightly
different text) -- each defaulting to
``${generate.<key>}``. So ``decoding=beam`` and ``generate.decoding=beam`` both work
(the shorthand wins if both are given), and ``model_dir`` defaults to the pipeline's
model (``paths.model_dir``). Hydra writes no output folder or log file for this CLI.

Output. Each sample is one block on stdout: the prompt, then its completion as it is
produced (flushed token by token), then a newline; with ``num_samples > 1`` each block
starts with a ``--- sample i/n ---`` line. Sample ``i`` is drawn with seed ``seed + i``
(``seed=null``: different text each run). Beam search only knows which hypothesis wins
at the end, so its blocks appear whole. Logs and warnings (e.g. a prompt longer than the
context, which is cropped from the left) go to stderr.

Prompts. ``\\n`` and ``\\t`` in a prompt (command line or interactive) stand for a
newline and a tab, and ``\\\\`` for a backslash. ``interactive=true`` reads one prompt
per line from stdin until end of input or an empty line. Text the tokenizer cannot
encode is the tokenizer's one-line error (exit code 2; in interactive mode the error is
shown and the next prompt read).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TextIO

from gptlab.cli import hydra_entry
from gptlab.config import to_dataclass
from gptlab.config.sections import plain
from gptlab.errors import ConfigError, TokenizerError

log = logging.getLogger("gptlab.generate")

DECODINGS = ("greedy", "sample", "beam")
_ESCAPE = re.compile(r"\\(n|t|\\)")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def unescape(text: str) -> str:
    """``\\n`` -> newline, ``\\t`` -> tab, ``\\\\`` -> backslash (a shell cannot easily pass a newline)."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], text)


@dataclass(frozen=True)
class GenerateCliConfig:
    """The ``generate:`` section (see the module docstring for each key)."""

    model_dir: str = "artifacts/model"
    prompt: str = "\n"
    decoding: str = "sample"
    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    num_beams: int = 4
    length_penalty: float = 1.0
    num_samples: int = 1
    seed: int | None = None
    interactive: bool = False
    device: str = "auto"
    cache_window: str = "exact"

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS:
            raise ConfigError(f"decoding must be one of {', '.join(DECODINGS)}, got {self.decoding!r}")
        # Hydra reads `prompt=123` as a number and `prompt=null` as None: a prompt is text.
        object.__setattr__(self, "prompt", "" if self.prompt is None else str(self.prompt))
        if not isinstance(self.interactive, bool):
            raise ConfigError(f"interactive must be true or false, got {self.interactive!r}")

    def generation_config(self, sample_index: int = 0, num_samples: int = 1) -> Any:
        from gptlab.generation import GenerationConfig

        seed = None if self.seed is None else self.seed + sample_index
        return GenerationConfig(
            strategy=self.decoding,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            repetition_penalty=self.repetition_penalty,
            num_beams=self.num_beams,
            length_penalty=self.length_penalty,
            num_samples=num_samples,
            seed=seed,
            cache_window=self.cache_window,
        )


KEYS = tuple(f.name for f in fields(GenerateCliConfig))


def cli_config(cfg: Any) -> GenerateCliConfig:
    """The ``generate`` section, with the top-level shorthands (conf/generate.yaml) on top."""
    section = dict(plain(cfg.get("generate")) or {})
    section.update({k: plain(cfg[k]) for k in KEYS if k in cfg})
    return to_dataclass(GenerateCliConfig, section, "generate")


class BlockWriter:
    """Prints one block per sample: optional header, the prompt, the streamed completion."""

    def __init__(self, prompt: str, total: int, out: TextIO) -> None:
        self.prompt = prompt
        self.total = total
        self.out = out
        self.current = -1  # index of the open block, -1 before the first
        self._ends_with_newline = True

    def open(self, index: int) -> None:
        """Close blocks up to ``index`` and open it (blocks without text are still shown)."""
        while self.current < index:
            self.close()
            self.current += 1
            if self.total > 1:
                self._write(f"--- sample {self.current + 1}/{self.total} ---\n")
            self._write(self.prompt)

    def piece(self, index: int, text: str) -> None:
        self.open(index)
        self._write(text)

    def close(self) -> None:
        if self.current >= 0 and not self._ends_with_newline:
            self._write("\n")

    def finish(self) -> None:
        self.open(self.total - 1)
        self.close()

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._ends_with_newline = text.endswith("\n")


def generate_blocks(loaded: Any, prompt: str, cli: GenerateCliConfig, out: TextIO) -> list[str]:
    """Generate ``cli.num_samples`` completions of ``prompt``, streaming them to ``out``."""
    from gptlab.generation import generate

    loaded.tokenizer.encode(prompt)  # an unencodable prompt fails before anything is printed
    n = cli.num_samples
    blocks = BlockWriter(prompt, n, out)
    if cli.decoding == "beam":
        # One search yields the n best hypotheses, each reported whole and in order.
        texts = generate(
            loaded.model, loaded.tokenizer, [prompt], cli.generation_config(0, n),
            on_text=lambda _p, row, piece: blocks.piece(row, piece),
        )[0]  # fmt: skip
        blocks.finish()
        return texts
    # Greedy and sampling: one call per sample, so every block streams as it is made
    # (a batched call would interleave the samples' tokens).
    texts = []
    crop_log = logging.getLogger("gptlab.generation.generate")
    level = crop_log.level
    try:
        for i in range(n):
            blocks.open(i)
            texts += generate(
                loaded.model, loaded.tokenizer, [prompt], cli.generation_config(i, 1),
                on_text=lambda _p, _row, piece, i=i: blocks.piece(i, piece),
            )[0]  # fmt: skip
            # The prompt-cropping warning is the same for every sample: say it once.
            crop_log.setLevel(logging.ERROR)
    finally:
        crop_log.setLevel(level)
    blocks.finish()
    return texts


def interactive_loop(loaded: Any, cli: GenerateCliConfig, out: TextIO, read_line: Callable[[], str]) -> list[list[str]]:
    """Prompt after prompt until end of input or an empty line."""
    results = []
    while True:
        sys.stderr.write("prompt> ")
        sys.stderr.flush()
        line = read_line()
        if not line or not line.rstrip("\r\n"):
            break
        try:
            results.append(generate_blocks(loaded, unescape(line.rstrip("\r\n")), cli, out))
        except TokenizerError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
    return results


def run(cfg: Any) -> list[list[str]]:
    """Completions per prompt (one prompt unless interactive), as printed."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.evaluation import resolve_device

    cli = cli_config(cfg)
    cli.generation_config(0, cli.num_samples)  # bad settings fail before the model loads
    loaded = load_model_dir(cli.model_dir, device=resolve_device(cli.device))
    if cli.decoding == "greedy" and cli.num_samples > 1:
        log.info("greedy decoding is deterministic: all %d samples will be the same", cli.num_samples)
    try:
        if cli.interactive:
            return interactive_loop(loaded, cli, sys.stdout, sys.stdin.readline)
        return [generate_blocks(loaded, unescape(cli.prompt), cli, sys.stdout)]
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as command-line tools do.
        _discard_stdout()
        return []


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file descriptor (e.g. captured by a test): nothing to protect


def main() -> None:
    hydra_entry(run, config_name="generate")


if __name__ == "__main__":
    main()
