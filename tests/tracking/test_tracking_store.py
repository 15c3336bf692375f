"""The one home of MLflow access: ``TrackingStore`` anchors the URI, bounds every HTTP wait,
makes one client, checks the store and locks an SQLite store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from gptlab.errors import ConfigError
from gptlab.tracking.store import HTTP_LIMITS, TrackingStore, bound_http_waits


def test_every_store_bounds_http_waits_and_the_users_setting_wins(monkeypatch):
    for name in HTTP_LIMITS:
        monkeypatch.delenv(name, raising=False)
    TrackingStore("http://127.0.0.1:9")
    assert {name: os.environ[name] for name in HTTP_LIMITS} == HTTP_LIMITS

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "42")
    bound_http_waits()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "42"


def test_the_uri_is_anchored_redacted_and_the_client_made_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    store = TrackingStore("sqlite:///mlflow.db")
    assert store.uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert store.sqlite_file == tmp_path.resolve() / "mlflow.db"
    assert TrackingStore("https://alice:s3cret@host:5000").redacted == "https://***@host:5000"
    assert TrackingStore("http://h:1").sqlite_file is None
    assert not (tmp_path / "mlflow.db").exists()  # nothing opened before the client is used
    server = TrackingStore("http://127.0.0.1:9")
    assert server.client is server.client


def test_a_reader_refuses_a_missing_sqlite_store_and_a_writer_may_create_it(tmp_path):
    store = TrackingStore(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not store.exists()
    with pytest.raises(ConfigError, match="no MLflow store at .*missing.db.*: train first"):
        store.check_exists("train first")
    store.check_usable()  # a writer: SQLite makes the file
    with pytest.raises(ConfigError, match="does not exist"):
        TrackingStore(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}").check_usable()
    assert TrackingStore("http://127.0.0.1:9").exists()  # a server: its runs are its business


def test_an_absent_server_is_one_line(monkeypatch):
    with pytest.raises(ConfigError, match=r"http://\*\*\*@127.0.0.1:9 cannot be reached"):
        TrackingStore("http://u:p@127.0.0.1:9").check_exists("hint")


def test_the_lock_serialises_writers_of_one_sqlite_store(tmp_path):
    store = TrackingStore(f"sqlite:///{tmp_path / 'mlflow.db'}")
    inside, overlaps = [], []

    def writer():
        with TrackingStore(store.uri).lock():
            overlaps.append(len(inside))
            inside.append(1)
            time.sleep(0.05)
            inside.pop()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [0, 0, 0, 0]
    with TrackingStore("http://127.0.0.1:9").lock():  # servers serialise writes themselves
        pass


def test_the_fluent_api_is_pointed_at_the_store_only_inside_active_run(tmp_path, mlflow_store, monkeypatch):
    import mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    store = TrackingStore(mlflow_store)
    run_id = store.client.create_run(store.ensure_experiment("e")).info.run_id
    with store.active_run(run_id) as run:
        assert run.info.run_id == run_id
        assert mlflow.get_tracking_uri() == store.uri and mlflow.get_registry_uri() == store.uri
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_registry_uri() != store.uri and mlflow.get_tracking_uri() != store.uri

    elsewhere = f"sqlite:///{Path(tmp_path) / 'other.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    try:
        with store.active_run(run_id):
            pass
        assert mlflow.get_tracking_uri() == elsewhere and mlflow.get_registry_uri() == elsewhere
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
