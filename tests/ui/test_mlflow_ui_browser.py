"""The MLflow UI, started as ``gptlab.ui`` starts it (:mod:`gptlab.tracking.server`), shows
a sweep's runs and their validation loss in a real (headless) browser.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``; .ci/run installs them) and ``selenium``; skipped without them. The
browser is the system's, never a downloaded one: Selenium is given both paths and told
to stay offline.

What is read from the rendered page: the experiment's runs list must name every run,
and each run's page must show its name and a ``val/loss`` row whose value is the one
the run logged (the runs list hides metric columns by default, the run page does not).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from tests.comparison.sweeps import sqlite_uri, train_sweep
from tests.conftest import copy_built

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

SWEEP = {"L1-lr3e-3": ["model.n_layer=1", "optim.lr=3e-3"], "L2-lr3e-3": ["model.n_layer=2", "optim.lr=3e-3"],
         "L1-lr1e-3": ["model.n_layer=1", "optim.lr=1e-3"]}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (pip install 'selenium>=4.20')")
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


def _run_page_val_loss(driver, run_id: str):
    """(page heading, val/loss cell text, the row) once the page shows *this* run's
    metrics, else None."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By

    try:
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
    except (StaleElementReferenceException, WebDriverException):
        return None  # the page re-rendered under us: look again


def test_mlflow_ui_shows_each_run_and_its_validation_loss(browser, built_data, workdir, tmp_path):
    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from gptlab.tracking.server import UiSettings, start, stop, wait_until_up

    copy_built(built_data, workdir)
    uri = sqlite_uri(workdir / "mlflow.db")
    reports = train_sweep(uri, "ui-sweep", SWEEP)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ui-sweep")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == set(SWEEP)

    settings = UiSettings(backend_store_uri=uri, port=_free_port())
    assert settings.host == "127.0.0.1"
    server = start(settings)
    try:
        assert wait_until_up(settings, server, timeout_s=SERVER_START_S), f"no answer from {settings.url}"

        browser.get(f"{settings.url}/#/experiments/{exp.experiment_id}/runs")
        WebDriverWait(browser, PAGE_S, 0.5).until(
            lambda d: all(name in d.find_element(By.TAG_NAME, "body").text for name in SWEEP),
            message="the experiment page does not list every run",
        )
        browser.save_screenshot(str(tmp_path / "experiment_runs.png"))

        for name, run in runs.items():
            browser.get(f"{settings.url}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}")
            shown = WebDriverWait(browser, PAGE_S, 0.5).until(
                lambda d, rid=run.info.run_id: _run_page_val_loss(d, rid),
                message=f"run {name}: no val/loss row on its page",
            )
            heading, value, row = shown
            # The metrics table sits below the run's details: bring it into the picture.
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
            browser.save_screenshot(str(tmp_path / f"run_{name}.png"))
            assert heading == name
            assert float(value) == pytest.approx(run.data.metrics["val/loss"], rel=1e-6)
            assert float(value) == pytest.approx(reports[name]["val_loss"], rel=1e-5)
    finally:
        stop(server)
    assert server.poll() is not None
