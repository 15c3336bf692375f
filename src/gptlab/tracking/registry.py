"""The MLflow Model Registry: a version per published model, and the ``champion`` alias, which moves
only to a version with strictly lower whole-split validation bits/char (they compare char and BPE models),
under the ``sqlite:///`` store's lock so that parallel sweep jobs cannot both move it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gptlab.tracking.store import TrackingStore

log = logging.getLogger("gptlab.tracking")

CHAMPION = "champion"
BITS_TAG = "val_bits_per_char"  # the version's own whole-split validation bits/char
CHAMPION_BITS_TAG = "champion_val_bits_per_char"  # the champion's, when this version was compared
COMPARED_TAG = "compared_with_version"
PROMOTION_TAG = "promotion"  # "champion" or "not promoted"
# On a version: the digest of the model directory it serves, so that the same model published again is known.
MODEL_TAG = "model_sha256"
# On a logged model: the digest of what was logged (model directory and serving code).
PUBLISH_KEY_TAG = "gptlab.publish_key"


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote_if_better` decided for one version."""

    name: str
    version: str
    bits_per_char: float
    promoted: bool
    champion_version: str | None  # the champion before the decision (None: there was none)
    champion_bits_per_char: float | None
    message: str


# -- the training run


def find_run(store: TrackingStore, run_id: str) -> Any | None:
    """Run ``run_id`` of the store, or None when the store does not hold it."""
    from mlflow.exceptions import MlflowException

    try:
        return store.client.get_run(run_id)
    except MlflowException:
        return None


@contextlib.contextmanager
def keeping_run_end(store: TrackingStore, run: Any) -> Iterator[None]:
    """Put ``run``'s status and end time back after the ``with`` body (which resumes it):
    its duration stays its training's, not the time until its model was published."""
    try:
        yield
    finally:
        if run.info.end_time:
            store.client.set_terminated(run.info.run_id, run.info.status, end_time=run.info.end_time)


# -- the logged model and its version


def published_model(store: TrackingStore, run: Any, key: str) -> Any | None:
    """The model logged to ``run`` with publish key ``key`` (completely logged), or None."""
    from mlflow.entities import LoggedModelStatus

    models = store.client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    found = [m for m in models if m.tags.get(PUBLISH_KEY_TAG) == key and m.status == LoggedModelStatus.READY]
    return max(found, key=lambda m: m.creation_timestamp) if found else None


def model_version(store: TrackingStore, name: str, run_id: str, model_uri: str) -> Any | None:
    """The version of ``name`` registered from ``model_uri`` of run ``run_id``, or None."""
    versions = store.client.search_model_versions(f"name = '{name}' AND run_id = '{run_id}'")
    found = [mv for mv in versions if mv.source == model_uri]
    return min(found, key=lambda mv: int(mv.version)) if found else None


def register_version(store: TrackingStore, name: str, model_uri: str, tags: dict[str, str]) -> Any:
    """A new version of ``name`` (created if missing) from ``model_uri``, under the store's
    lock; inside ``store.active_run(...)``, which points MLflow's registry URI at the store."""
    import mlflow

    with store.lock():
        return mlflow.register_model(model_uri, name, tags=tags)


# -- the champion


def champion(client: Any, name: str) -> Any | None:
    """The version of ``name`` that holds the ``champion`` alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _tag_float(version: Any, key: str) -> float | None:
    try:
        value = float(version.tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def promote_if_better(client: Any, name: str, version: str, bits_per_char: float,
                      model_sha256: str | None = None) -> Promotion:  # fmt: skip
    """Move ``champion`` to ``version`` of ``name`` if its bits/char beat the champion's (under the caller's
    lock). Ties, and a champion with no recorded figure, keep the champion; one serving the same model
    directory (``model_sha256``, published again) is replaced."""
    version = str(version)
    bpc = float(bits_per_char)
    client.set_model_version_tag(name, version, BITS_TAG, f"{bpc:.6f}")
    current = champion(client, name)
    label = f"{name} v{version}"
    if current is None:
        promoted, old_bpc = True, None
        message = f"{label} is the first champion (val bits/char {bpc:.4f})"
    elif str(current.version) == version:
        promoted, old_bpc = True, bpc
        message = f"{label} is already the champion (val bits/char now {bpc:.4f})"
    else:
        old_bpc = _tag_float(current, BITS_TAG)
        client.set_model_version_tag(name, version, COMPARED_TAG, str(current.version))
        if model_sha256 and current.tags.get(MODEL_TAG) == model_sha256:
            promoted = True
            message = f"{label} is the champion: the champion v{current.version}'s model, published again"
        elif old_bpc is None:
            promoted = False
            message = (
                f"{label} not promoted: the champion v{current.version} records no {BITS_TAG} tag to compare "
                f"with (val bits/char {bpc:.4f} here); move the alias by hand if this one should serve"
            )
        else:
            client.set_model_version_tag(name, version, CHAMPION_BITS_TAG, f"{old_bpc:.6f}")
            promoted = bpc < old_bpc
            if promoted:
                message = f"{label} is the new champion: val bits/char {bpc:.4f} < {old_bpc:.4f} of v{current.version}"
            else:
                message = (
                    f"{label} not promoted: val bits/char {bpc:.4f} is not below the champion "
                    f"v{current.version}'s {old_bpc:.4f}; the champion stays v{current.version}"
                )
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, PROMOTION_TAG, CHAMPION if promoted else "not promoted")
    was = None if current is None else str(current.version)
    return Promotion(name, version, bpc, promoted, was, old_bpc, message)


def promote(store: TrackingStore, name: str, version: str, bits_per_char: float | None,
            model_sha256: str | None = None) -> Promotion | None:  # fmt: skip
    """The publish step's decision for one version, under the store's lock, logged on one
    line; None when the val split was not scored (``bits_per_char`` None: nothing compared)."""
    if bits_per_char is None or not math.isfinite(bits_per_char):
        log.info("no finite validation bits/char (evaluate the val split): the registry's champion is not compared")
        return None
    from mlflow.exceptions import MlflowException

    with store.lock():
        try:
            result = promote_if_better(store.client, name, version, bits_per_char, model_sha256)
        except MlflowException as exc:
            # A server's store (no lock) refuses the second of two simultaneous alias moves: decided again.
            if "unique constraint" not in str(exc).lower():
                raise
            result = promote_if_better(store.client, name, version, bits_per_char, model_sha256)
    log.info("%s", result.message)
    return result
