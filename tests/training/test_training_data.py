"""RandomWindows: well-formed windows, different streams per rank, resumable from a counter,
the same batches whether cut on the host, on the device or ahead by a worker thread."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
import torch

from gptlab.training.data import BatchCounter, FixedWindows, RandomWindows, SplitWindows, TokenDataModule

CONTEXT, BATCH = 8, 4
# Token i has value i, so a window's tokens reveal exactly where it starts.
DATA = np.arange(1000, dtype=np.uint16)


def _stream(rank: int = 0, seed: int = 7, counter: BatchCounter | None = None, data: np.ndarray = DATA):
    return iter(RandomWindows(data, CONTEXT, BATCH, seed, rank, counter or BatchCounter()))


def _starts(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[list[int]]:
    return [x[:, 0].tolist() for x, _ in batches]


def test_windows_are_contiguous_with_next_token_targets() -> None:
    for x, y in islice(_stream(), 20):
        assert x.shape == y.shape == (BATCH, CONTEXT)
        assert x.dtype == y.dtype == torch.int64
        offsets = torch.arange(CONTEXT)
        assert torch.equal(x, x[:, :1] + offsets)  # consecutive tokens of the split
        assert torch.equal(y, x + 1)  # each target is the token after its input


def test_every_start_is_drawn_including_the_last_one() -> None:
    # 10 tokens, context 8: a window needs 9 tokens, so starts 0 and 1 are the only ones.
    data = np.arange(10, dtype=np.uint16)
    starts = {s for batch in _starts(list(islice(_stream(data=data), 25))) for s in batch}
    assert starts == {0, 1}


def test_ranks_draw_different_batches() -> None:
    per_rank = [_starts(list(islice(_stream(rank=r), 50))) for r in range(4)]
    for i in range(50):
        batch_i = [tuple(rank[i]) for rank in per_rank]
        assert len(set(batch_i)) == 4, f"two ranks drew the same batch {i}"
    # Independent streams over 991 starts: only chance collisions, a few at most.
    pooled = [set(s for batch in rank for s in batch) for rank in per_rank]
    assert len(pooled[0] & pooled[1]) < 0.5 * len(pooled[0])


def test_seed_changes_the_stream() -> None:
    assert _starts(list(islice(_stream(seed=1), 5))) != _starts(list(islice(_stream(seed=2), 5)))


def test_counter_counts_batches_and_resumes_the_same_stream() -> None:
    counter = BatchCounter()
    full = list(islice(_stream(counter=counter), 10))
    assert counter.value == 10
    resumed_counter = BatchCounter()
    resumed_counter.value = 6  # what a checkpoint taken after 6 batches holds
    resumed = list(islice(_stream(counter=resumed_counter), 4))
    assert _starts(resumed) == _starts(full[6:])
    assert resumed_counter.value == 10


def test_datamodule_state_round_trip_feeds_the_stream() -> None:
    dm = TokenDataModule(settings=None, meta=None)  # type: ignore[arg-type]  # state only
    list(islice(_stream(counter=dm.counter), 3))
    state = dm.state_dict()  # not attached to a trainer: the counter itself
    assert state == {"batches_drawn": 3}
    fresh = TokenDataModule(settings=None, meta=None)  # type: ignore[arg-type]
    fresh.load_state_dict(state)
    assert fresh.counter.value == 3
    expected = list(islice(_stream(), 4))[3]
    got = next(_stream(counter=fresh.counter))
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_fixed_windows_span_the_split_evenly() -> None:
    # 100 tokens, context 8: starts 0..91; 4 windows at 0, 30.33, 60.67, 91 -> truncated.
    fw = FixedWindows(np.arange(100, dtype=np.uint16), CONTEXT, 4)
    assert fw.starts.tolist() == [0, 30, 60, 91]
    assert len(fw) == 4
    x, y = fw[3]
    assert x.tolist() == [list(range(91, 99))] and y.tolist() == [list(range(92, 100))]


def test_fixed_windows_come_in_whole_batches_the_last_one_short() -> None:
    fw = FixedWindows(np.arange(100, dtype=np.uint16), CONTEXT, 5, batch_size=2)
    assert len(fw) == 3
    batches = [fw[i] for i in range(len(fw))]
    assert [x.shape[0] for x, _ in batches] == [2, 2, 1]
    assert [s for x, _ in batches for s in x[:, 0].tolist()] == fw.starts.tolist()
    with pytest.raises(IndexError):
        fw[3]


def test_a_split_kept_as_a_tensor_gives_the_same_windows() -> None:
    # resident=True takes the device path (a gather on a tensor holding the split) on the CPU.
    host, tensor = SplitWindows(DATA, CONTEXT), SplitWindows(DATA, CONTEXT, resident=True)
    assert not host.on_device and tensor.on_device
    starts = np.array([0, 5, 991, 400])
    for a, b in zip(host(starts), tensor(starts), strict=True):
        assert a.dtype == b.dtype == torch.int64
        assert torch.equal(a, b)


def test_a_prefetching_worker_draws_the_same_stream_and_counts_what_was_taken() -> None:
    counter = BatchCounter()
    counter.value = 3  # resumed
    ahead = RandomWindows(DATA, CONTEXT, BATCH, 7, 0, counter, prefetch=4)
    stream = iter(ahead)
    got = list(islice(stream, 6))
    assert counter.value == 9  # batches handed out, not the ones cut ahead
    stream.close()  # stops the worker
    assert _starts(got) == _starts(list(islice(_stream(), 9))[3:])
