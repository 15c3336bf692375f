"""The dataset splits a run trained, validated and was scored on, as MLflow dataset inputs (metadata
only: name, digest, DVC path, profile). MLflow keeps one input per (run, name, digest), so an evaluation
tags the splits it scored (:data:`EVAL_SPLITS_TAG`) and logs only the splits the training did not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gptlab.dataset.meta import DatasetMeta

log = logging.getLogger(__name__)

# MLflow's input tag for how a dataset was used, and the values gptlab gives it.
CONTEXT_TAG = "mlflow.data.context"
CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
EVALUATION = "evaluation"
EVAL_SPLITS_TAG = "eval.splits"
DIGEST_CHARS = 16  # MLflow's limit is 36


@dataclass(frozen=True)
class SplitDataset:
    """One split, as MLflow will record it."""

    split: str
    name: str
    digest: str
    source: str  # the split's path, as dvc.yaml declares it
    profile: dict[str, Any]


def split_dataset(meta: DatasetMeta, processed_dir: str | Path, split: str) -> SplitDataset:
    """What MLflow records about ``split`` of the dataset described by ``meta``."""
    record = (meta.files or {}).get(split) or {}
    sha256 = record.get("sha256")
    profile = {
        "split": split,
        "tokens": meta.tokens.get(split),
        "characters": meta.characters.get(split),
        "bytes": record.get("bytes"),
        "sha256": sha256,
        "dtype": meta.dtype,
        "vocab_size": meta.vocab_size,
        "tokenizer_kind": meta.tokenizer_kind,
        "tokenizer_sha256": meta.tokenizer_sha256,
        "corpus_sha256": meta.corpus_sha256,
    }
    profile = {k: v for k, v in profile.items() if v is not None}
    if sha256:
        digest = sha256[:DIGEST_CHARS]
    else:
        # No hash of the file: a stable digest of everything meta.json says about the split.
        known = json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(known).hexdigest()[:DIGEST_CHARS]
    source = (Path(processed_dir) / f"{split}.bin").as_posix()
    return SplitDataset(split, f"{meta.tokenizer_kind}-{split}", digest, source, profile)


def dataset_splits(meta: DatasetMeta) -> list[str]:
    """The non-empty splits, train first."""
    order = {s: i for i, s in enumerate(CONTEXTS)}
    return sorted((s for s, n in meta.tokens.items() if n), key=lambda s: (order.get(s, len(order)), s))


def dataset_input(ds: SplitDataset, context: str) -> Any:
    """An ``mlflow.entities.DatasetInput`` for ``ds``, tagged with ``context``."""
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag

    # MetaDataset has no profile of its own: the counts are added to what it records.
    meta_ds = MetaDataset(source=LocalArtifactDatasetSource(ds.source), name=ds.name, digest=ds.digest)
    record = {**meta_ds.to_dict(), "profile": json.dumps(ds.profile, sort_keys=True)}
    return DatasetInput(Dataset(**record), tags=[InputTag(CONTEXT_TAG, context)])


def training_dataset_records(meta: DatasetMeta, processed_dir: str | Path) -> list[dict]:
    """Every non-empty split with its context in training, as plain records for the run's outbox."""
    return [
        {**asdict(split_dataset(meta, processed_dir, split)), "context": CONTEXTS.get(split, split)}
        for split in dataset_splits(meta)
    ]


def send_dataset_records(client: Any, run_id: str, records: list[dict]) -> None:
    """Log :func:`training_dataset_records`' records as the run's inputs; a refusal costs a warning, not the run."""
    inputs = [dataset_input(SplitDataset(**{k: v for k, v in r.items() if k != "context"}), r["context"])
              for r in records]  # fmt: skip
    if not inputs:
        return
    try:
        client.log_inputs(run_id, datasets=inputs)
    except Exception as exc:  # noqa: BLE001 - MlflowException, or the server's connection errors
        log.warning("dataset inputs not logged to MLflow run %s: %s", run_id, exc)


def log_evaluated_splits(client: Any, run_id: str, meta: DatasetMeta, processed_dir: str | Path,
                         splits: Iterable[str]) -> None:  # fmt: skip
    """Tag the splits an evaluation scored; those not yet inputs of the run become ``evaluation`` inputs."""
    splits = [s for s in splits if meta.tokens.get(s)]
    if not splits:
        return
    run = client.get_run(run_id)
    logged = {(i.dataset.name, i.dataset.digest) for i in (run.inputs.dataset_inputs if run.inputs else [])}
    new = [split_dataset(meta, processed_dir, s) for s in splits]
    new = [ds for ds in new if (ds.name, ds.digest) not in logged]
    if new:
        client.log_inputs(run_id, datasets=[dataset_input(ds, EVALUATION) for ds in new])
    client.set_tag(run_id, EVAL_SPLITS_TAG, ",".join(splits))
