"""The MLflow UI, started as ``gptlab.ui`` starts it (:mod:`gptlab.tracking.server`), on a
real 4-job sweep (``python -m gptlab.train -m ...``), read in a real (headless) browser.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``; .ci/run installs them) and ``selenium``; skipped without them. The
browser is the system's, never a downloaded one: Selenium is given both paths and told
to stay offline.

What is read from the rendered page (MLflow's URL routes and ``data-testid``s where it has
them; every wait is bounded):

- the experiment opens in the training view (the runs table), the sweep's parent run is
  its one top-level row, and its four children appear nested under it once its row is
  expanded, each with its own name and the datasets it trained on in the Dataset column;
- each run's page shows its name and a ``val/loss`` row whose value is the one the run
  logged;
- a run's System metrics tab draws a chart of ``system/cpu_utilization_percentage``.

MLflow 3.17's UI picks its view from a switch of its own (GenAI / Model training, kept by
the browser, GenAI in a fresh one), not from the experiment's ``mlflow.experimentKind``
tag: every page is opened with ``?workflowType=machine_learning``, the link docs/ui.md
gives, and the tag itself is checked through ``MlflowClient``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import compose, copy_built, new_mlflow_store

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Chromium flags: headless in a container, and no traffic of its own (updates, sync, ...).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1600,1000",
)  # fmt: skip
SERVER_START_S = 180  # mlflow server imports a lot; on a busy 2-core runner a minute is normal
PAGE_S = 120  # the UI's first load fetches a large JavaScript bundle from the same server
TRAINING_VIEW = "workflowType=machine_learning"

# A 2 x 2 sweep of the smoke preset, shortened; system metrics every half second so that
# even a run of a few seconds has some.
SWEEP = (
    "-m", "experiment=smoke", "data=file", "data.path=corpus.txt", "train.sample_every_n_val=0",
    "trainer.enable_progress_bar=false", "trainer.max_steps=20", "trainer.val_check_interval=10",
    "logger.system_metrics_interval_s=0.5", "model.n_layer=1,2", "optim.lr=1e-3,3e-3",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _have_browser() -> None:
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (pip install 'selenium>=4.20')")


@pytest.fixture(scope="module")
def swept(built_data, tmp_path_factory, subprocess_env):
    """A real sweep, trained once for the module: (store URI, experiment, parent run, {name: child run},
    {name: the job's reports/train.json})."""
    _have_browser()
    from mlflow.tracking import MlflowClient

    from gptlab.sweeps.parent_run import PARENT_ROLE, PARENT_RUN_ID_TAG, ROLE_TAG

    root = copy_built(built_data, tmp_path_factory.mktemp("ui-sweep"))
    uri = new_mlflow_store(root, tmp_path_factory)
    res = subprocess.run([sys.executable, "-m", "gptlab.train", *SWEEP, f"logger.tracking_uri={uri}"], cwd=root,
                         env=subprocess_env, capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("gptlab")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get(ROLE_TAG) == PARENT_ROLE]
    children = {r.info.run_name: r for r in runs if r.data.tags.get(PARENT_RUN_ID_TAG) == parent.info.run_id}
    assert len(children) == 4
    reports = {}
    for name, run in children.items():
        job_dir = root / parent.data.tags["sweep_id"] / run.data.tags["sweep_job"]
        reports[name] = json.loads((job_dir / "reports/train.json").read_text())
    return uri, exp, parent, children, reports


@pytest.fixture(scope="module")
def ui(swept):
    """The UI server on the sweep's store, started as ``python -m gptlab.ui`` starts it."""
    from gptlab import ui as ui_cli
    from gptlab.tracking.server import ready, start

    settings = ui_cli.settings(compose(f"tracking_uri={swept[0]}", f"port={_free_port()}", config_name="ui"))
    assert settings.host == "127.0.0.1"
    server = start(settings)
    try:
        assert server.wait_ready(lambda: ready(settings), SERVER_START_S), f"no answer from {settings.url}"
        yield settings.url
    finally:
        server.stop()
    assert server.proc.poll() is not None


@pytest.fixture
def browser(tmp_path, monkeypatch):
    _have_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager would fetch a browser or driver it cannot find: forbid it.
    monkeypatch.setenv("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, message: str):
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def check(d):
        try:
            return condition(d)
        except (StaleElementReferenceException, WebDriverException):
            return None  # the page re-rendered under us: look again

    return WebDriverWait(driver, PAGE_S, 0.5).until(check, message=message)


def _row_text(driver, run_id: str) -> str:
    """The text of a run's row in the runs table (ag-grid splits a row into pinned and
    scrolled parts that share the ``row-id``, the run's id); "" while it is not shown."""
    from selenium.webdriver.common.by import By

    return "\n".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, f"[row-id='{run_id}']"))


def _run_page_val_loss(driver, run_id: str):
    """(page heading, val/loss cell text, the row) once the page shows *this* run's
    metrics, else None."""
    from selenium.webdriver.common.by import By

    # The metric name links to this run's metric charts: that ties the row to the run.
    links = driver.find_elements(By.XPATH, f"//a[normalize-space(text())='val/loss' and contains(@href, '{run_id}')]")
    if not links:
        return None
    row = links[0].find_element(By.XPATH, "./ancestor::*[@role='row' or self::tr][1]")
    cells = row.find_elements(By.XPATH, ".//*[@role='cell' or self::td]")
    headings = [h.text.strip() for h in driver.find_elements(By.XPATH, "//h1|//h2") if h.text.strip()]
    if len(cells) < 2 or not cells[1].text.strip() or not headings:
        return None
    return headings[0], cells[1].text.strip(), row


def test_the_experiment_opens_in_the_training_view_with_the_sweep_nested_and_its_datasets(swept, ui, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from gptlab.tracking.datasets import DIGEST_CHARS
    from gptlab.tracking.store import EXPERIMENT_KIND_TAG, TRAINING_KIND

    _, exp, parent, children, _ = swept
    assert exp.tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
    pid = parent.info.run_id

    browser.get(f"{ui}/#/experiments/{exp.experiment_id}?{TRAINING_VIEW}")
    # The training view: the experiment's route lands on its runs table.
    _wait(browser, lambda d: f"/experiments/{exp.experiment_id}/runs" in d.current_url
          and d.find_elements(By.CSS_SELECTOR, "[data-testid='experiment-view-runs-visibility-column-header']"),
          "the experiment did not open in the training view (runs table)")  # fmt: skip
    # The sweep is one top-level row: its children are folded under it.
    _wait(browser, lambda d: parent.info.run_name in _row_text(d, pid), "the sweep's parent run is not listed")
    assert all(_row_text(browser, r.info.run_id) == "" for r in children.values()), "children shown unnested"
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid='sort-header-Dataset']"), "no Dataset column"
    browser.save_screenshot(str(tmp_path / "experiment_runs.png"))

    # The expander in the parent's name cell unfolds its children.
    expander = browser.find_element(
        By.XPATH, f"//*[@row-id='{pid}']//a[contains(@href, '/runs/{pid}')]/ancestor::*[@role='gridcell'][1]//button"
    )
    expander.click()
    _wait(browser, lambda d: all(name in _row_text(d, r.info.run_id) for name, r in children.items()),
          "the sweep's children did not appear under it, each with its name")  # fmt: skip
    browser.save_screenshot(str(tmp_path / "experiment_runs_nested.png"))
    for name, run in children.items():
        train = next(i.dataset for i in run.inputs.dataset_inputs if i.dataset.name.endswith("-train"))
        assert len(train.digest) == DIGEST_CHARS
        # The Dataset column: "char-train (<digest>)" with its context
        row = _row_text(browser, run.info.run_id)
        assert f"{train.name} ({train.digest})" in row and "Training" in row, f"{name}: no dataset in its row"


def test_each_run_page_shows_the_run_and_its_validation_loss(swept, ui, browser, tmp_path):
    _, exp, _, children, reports = swept
    for i, (name, run) in enumerate(sorted(children.items())):
        browser.get(f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}?{TRAINING_VIEW}")
        heading, value, row = _wait(
            browser, lambda d, rid=run.info.run_id: _run_page_val_loss(d, rid), f"run {name}: no val/loss row on its page"
        )
        # The metrics table sits below the run's details: bring it into the picture.
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
        browser.save_screenshot(str(tmp_path / f"run_{i}.png"))
        assert heading == name
        assert float(value) == pytest.approx(run.data.metrics["val/loss"], rel=1e-6)
        assert float(value) == pytest.approx(reports[name]["val_loss"], rel=1e-5)


def test_a_run_page_shows_system_metrics_charts(swept, ui, browser, tmp_path):
    from selenium.webdriver.common.by import By

    pytest.importorskip("psutil", reason="MLflow's system-metrics monitor needs psutil")
    _, exp, _, children, _ = swept
    run = min(children.values(), key=lambda r: r.info.run_name)
    assert "system/cpu_utilization_percentage" in run.data.metrics

    def cpu_chart(d):
        cards = d.find_elements(By.CSS_SELECTOR, "[data-testid='experiment-view-compare-runs-card']")
        cpu = [c for c in cards if "cpu_utilization_percentage" in c.text]
        return cpu[0] if cpu and cpu[0].find_elements(By.CSS_SELECTOR, ".js-plotly-plot, svg") else None

    browser.get(f"{ui}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/system-metrics?{TRAINING_VIEW}")
    chart = _wait(browser, cpu_chart, "no system/cpu_utilization_percentage chart on the run's System metrics tab")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    browser.save_screenshot(str(tmp_path / "system_metrics.png"))
