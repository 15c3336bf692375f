"""The MLflow Model Registry: a version per training run, and the ``champion`` alias.

The train stage registers each run's logged pyfunc model as a new version of
``logger.registered_model_name`` (:func:`register_version`). The evaluate stage then
scores the whole validation split and calls :func:`promote_run_versions`: the alias
``champion`` moves to the run's version only when its validation bits per character
are strictly lower than the champion's. Both figures are kept as version tags
(:data:`BITS_TAG` on every evaluated version; :data:`CHAMPION_BITS_TAG` and
:data:`COMPARED_TAG` on a challenger), and one log line says what happened.

Bits per character compare char and BPE models on one axis, but only on the same
validation text: the default registered name holds the data source and tokenizer
kind, and a version records its corpus in its run's tags (``corpus_sha256``).

On a ``sqlite:///`` store the comparison and the alias move happen under the store's
file lock, so parallel sweep jobs cannot both read the old champion and both move it.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.tracking.store import _file_lock
from gptlab.tracking.uri import normalize_tracking_uri, redact_uri, sqlite_path

log = logging.getLogger("gptlab.tracking")

CHAMPION = "champion"
BITS_TAG = "val_bits_per_char"  # the version's own whole-split validation bits/char
CHAMPION_BITS_TAG = "champion_val_bits_per_char"  # the champion's, when this version was compared
COMPARED_TAG = "compared_with_version"
PROMOTION_TAG = "promotion"  # "champion" or "not promoted"


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


def client_for(uri: str) -> Any:
    """An ``MlflowClient`` whose tracking store and (by MLflow's default) registry are ``uri``."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=normalize_tracking_uri(uri))


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """The store's inter-process lock for a ``sqlite:///`` store (the one prepare_store takes)."""
    db = sqlite_path(normalize_tracking_uri(uri))
    if db is None:
        yield
        return
    db = Path(db).resolve()
    with _file_lock(db.with_name(db.name + ".lock")):
        yield


def register_version(uri: str, name: str, source: str, run_id: str, model_id: str | None = None) -> Any:
    """A new version of registered model ``name`` (created if missing) from ``source``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    client = client_for(uri)
    with store_lock(uri):
        try:
            client.create_registered_model(name, description="gptlab text generator (python -m gptlab.serve)")
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        return client.create_model_version(name, source, run_id=run_id, model_id=model_id)


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


def promote_if_better(client: Any, name: str, version: str, bits_per_char: float) -> Promotion:
    """Move ``champion`` to ``version`` of ``name`` if its bits/char beat the champion's.

    Ties keep the champion. A champion without a recorded figure (an alias set by hand)
    stays: there is nothing to compare with. The caller holds :func:`store_lock`.
    """
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
        if old_bpc is None:
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
    return Promotion(
        name=name,
        version=version,
        bits_per_char=bpc,
        promoted=promoted,
        champion_version=None if current is None else str(current.version),
        champion_bits_per_char=old_bpc,
        message=message,
    )


def run_versions(client: Any, run_id: str) -> list[Any]:
    """The registered model versions created from run ``run_id`` (normally one), the newest
    per registered model: a run resumed after it finished registers again, and only its
    last version is the model the run ended with."""
    newest: dict[str, Any] = {}
    for mv in client.search_model_versions(f"run_id = '{run_id}'"):
        if mv.name not in newest or int(mv.version) > int(newest[mv.name].version):
            newest[mv.name] = mv
    return [newest[name] for name in sorted(newest)]


def promote_run_versions(uri: str, run_id: str, bits_per_char: float | None) -> list[Promotion]:
    """The evaluate stage's step: promote each version registered from ``run_id`` if better.

    ``bits_per_char`` is the whole validation split's (None when the val split was not
    scored: nothing is compared then). Each decision is logged on one line.
    """
    if bits_per_char is None or not math.isfinite(bits_per_char):
        log.info("no finite validation bits/char: the registry's champion is not compared")
        return []
    client = client_for(uri)
    versions = run_versions(client, run_id)
    if not versions:
        log.info("no registered model version comes from run %s (registration off?): nothing to promote in %s",
                 run_id, redact_uri(normalize_tracking_uri(uri)))  # fmt: skip
        return []
    results = []
    with store_lock(uri):
        for mv in versions:
            result = promote_if_better(client, mv.name, mv.version, bits_per_char)
            log.info("%s", result.message)
            results.append(result)
    return results
