"""Completions streamed to a terminal: the library behind ``python -m gptlab.generate``
(docs/generate.md)."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from gptlab.config import to_dataclass
from gptlab.errors import ConfigError, DataError, TokenizerError
from gptlab.generation.config import STRATEGIES, GenerationConfig
from gptlab.generation.generate import generate
from gptlab.tokenizer.char import CharTokenizer

log = logging.getLogger(__name__)

_ESCAPE = re.compile(r"\\(n|t|\\)")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}

# The section's own keys; the rest of it is GenerationConfig (`decoding` its `strategy`),
# whose fields the section does not offer keep their defaults.
CONSOLE_KEYS = ("model_dir", "prompt", "prompt_file", "num_samples", "interactive", "device")
NOT_IN_SECTION = ("strategy", "num_samples", "stop_strings", "stop_at_eot", "use_cache")
SECTION_KEYS = (
    *CONSOLE_KEYS,
    "decoding",
    *(f.name for f in dataclasses.fields(GenerationConfig) if f.name not in NOT_IN_SECTION),
)


def unescape(text: str) -> str:
    """``\\n`` -> newline, ``\\t`` -> tab, ``\\\\`` -> backslash (a shell cannot easily pass a newline)."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], text)


@dataclass(frozen=True)
class GenerateSettings:
    """The ``generate:`` section: console keys, and the decoding of every sample (no defaults:
    :meth:`from_section` builds it from the composed section)."""

    model_dir: str
    prompt: str | None  # None (Hydra reads prompt=null so) is the empty prompt
    prompt_file: str | None  # the prompt's text, as is, from this file ("-": stdin) instead of `prompt`
    num_samples: int
    interactive: bool
    device: str
    generation: GenerationConfig

    def __post_init__(self) -> None:
        # Hydra reads `prompt=123` as a number and `prompt=null` as None: a prompt is text.
        object.__setattr__(self, "prompt", "" if self.prompt is None else str(self.prompt))
        if self.prompt_file is not None and self.interactive:
            raise ConfigError("prompt_file is one prompt and interactive=true reads prompts from stdin: set only one")
        self.sample_config(0, self.num_samples)  # num_samples and the beam limit, checked now

    @classmethod
    def from_section(cls, section: Mapping[str, Any], where: str = "generate") -> GenerateSettings:
        unknown = sorted(set(section) - set(SECTION_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key(s) in '{where}': {', '.join(unknown)}; valid keys: {', '.join(sorted(SECTION_KEYS))}"
            )
        missing = [k for k in SECTION_KEYS if k not in section]
        if missing:
            raise ConfigError(f"missing key(s) in '{where}': {', '.join(missing)}")
        decoding = section["decoding"]
        if decoding not in STRATEGIES:  # named as the user typed it, not as `strategy`
            raise ConfigError(f"{where}.decoding must be one of {', '.join(STRATEGIES)}, got {decoding!r}")
        rest = {k: v for k, v in section.items() if k not in (*CONSOLE_KEYS, "decoding")}
        generation = to_dataclass(GenerationConfig, {**rest, "strategy": decoding}, where)
        console = {k: v for k, v in section.items() if k in CONSOLE_KEYS}
        return to_dataclass(cls, console, where, generation=generation)

    def sample_config(self, sample_index: int = 0, num_samples: int = 1) -> GenerationConfig:
        """The decoding of sample ``sample_index`` (seed ``seed + sample_index``), ``num_samples`` at once."""
        seed = self.generation.seed
        return dataclasses.replace(
            self.generation, num_samples=num_samples, seed=None if seed is None else seed + sample_index
        )


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


def generate_blocks(loaded: Any, prompt: str, settings: GenerateSettings, out: TextIO) -> list[str]:
    """Generate ``settings.num_samples`` completions of ``prompt``, streaming them to ``out``;
    ``loaded``: a :class:`gptlab.checkpoint.LoadedModel` (anything with its two members)."""
    loaded.tokenizer.encode(prompt)  # an unencodable prompt fails before anything is printed
    if isinstance(loaded.tokenizer, CharTokenizer) and (unseen := loaded.tokenizer.unseen(prompt)):
        # unk_policy=replace: encoded, but the model sees <unk> for each, which is worth a word.
        log.warning("the prompt's characters %s are not in the tokenizer's vocabulary: each is read as <unk>",
                    ", ".join(repr(c) for c in unseen))  # fmt: skip
    n = settings.num_samples
    blocks = BlockWriter(prompt, n, out)
    if settings.generation.strategy == "beam":
        # One search yields the n best hypotheses, each reported whole and in order.
        texts = generate(
            loaded.model, loaded.tokenizer, [prompt], settings.sample_config(0, n),
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
                loaded.model, loaded.tokenizer, [prompt], settings.sample_config(i, 1),
                on_text=lambda _p, _row, piece, i=i: blocks.piece(i, piece),
            )[0]  # fmt: skip
            # The prompt-cropping warning is the same for every sample: say it once.
            crop_log.setLevel(logging.ERROR)
    finally:
        crop_log.setLevel(level)
    blocks.finish()
    return texts


def interactive_loop(
    loaded: Any, settings: GenerateSettings, out: TextIO, read_line: Callable[[], str]
) -> list[list[str]]:
    """Prompt after prompt until end of input or an empty line."""
    results = []
    while True:
        sys.stderr.write("prompt> ")
        sys.stderr.flush()
        line = read_line()
        if not line or not line.rstrip("\r\n"):
            break
        try:
            results.append(generate_blocks(loaded, unescape(line.rstrip("\r\n")), settings, out))
        except TokenizerError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
    return results


def read_prompt(settings: GenerateSettings, stdin: TextIO) -> str:
    """``prompt_file``'s text as is (no escapes, no Hydra quoting), else ``prompt`` unescaped."""
    if settings.prompt_file is None:
        return unescape(settings.prompt)
    if settings.prompt_file == "-":
        return stdin.read()
    try:
        with open(settings.prompt_file, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read prompt_file {settings.prompt_file}: {getattr(exc, 'strerror', None) or exc}") from None


def run_console(settings: GenerateSettings) -> list[list[str]]:
    """Load the model, print the completions to stdout; completions per prompt, as printed."""
    from gptlab.checkpoint import load_model_dir
    from gptlab.runtime import resolve_device

    prompt = "" if settings.interactive else read_prompt(settings, sys.stdin)  # a bad file fails before loading
    loaded = load_model_dir(settings.model_dir, device=resolve_device(settings.device))
    if settings.generation.strategy == "greedy" and settings.num_samples > 1:
        log.info("greedy decoding is deterministic: all %d samples will be the same", settings.num_samples)
    try:
        if settings.interactive:
            return interactive_loop(loaded, settings, sys.stdout, sys.stdin.readline)
        return [generate_blocks(loaded, prompt, settings, sys.stdout)]
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as command-line tools do.
        _discard_stdout()
        return []


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file descriptor (e.g. captured by a test): nothing to protect
