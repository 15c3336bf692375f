"""MLflow tracking: one home for URIs, the store, run links, the training logger and the UI server.

Importing this package loads neither MLflow nor torch; the modules that need MLflow
import it inside their functions.
"""

from gptlab.tracking.config import LoggerConfig
from gptlab.tracking.run_link import TrainingRun, training_run
from gptlab.tracking.store import check_store_exists, check_tracking_uri, open_store, prepare_store
from gptlab.tracking.uri import normalize_tracking_uri, project_root, redact_uri, sqlite_path

__all__ = [
    "LoggerConfig",
    "TrainingRun",
    "check_store_exists",
    "check_tracking_uri",
    "normalize_tracking_uri",
    "open_store",
    "prepare_store",
    "project_root",
    "redact_uri",
    "sqlite_path",
    "training_run",
]
