"""MLflow tracking: URIs, the store, run links, the training logger and the UI server.
Importing this package loads neither MLflow nor torch."""

from gptlab.tracking.config import LoggerConfig
from gptlab.tracking.run_link import TrainingRun, training_run
from gptlab.tracking.store import TrackingStore
from gptlab.tracking.uri import normalize_tracking_uri, project_root, redact_uri, sqlite_path

__all__ = [
    "LoggerConfig",
    "TrackingStore",
    "TrainingRun",
    "normalize_tracking_uri",
    "project_root",
    "redact_uri",
    "sqlite_path",
    "training_run",
]
