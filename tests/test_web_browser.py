"""The web app in a real browser: Debian's Chromium, driven by Selenium through Debian's chromedriver.

The flow a member of staff follows: sign in, open the demo round, upload two returns, see them
scored, resolve the review item one of them made, open a partnership's report as a web page and
download its PDF. On every page: no console errors, axe-core finds no serious or critical
violation, and a screenshot is taken (into ``$MATRIXGEN_SCREENSHOTS`` when set, to look at).

It skips only where no Chromium is installed, and says so; `.ci/run` installs it, and under
CI=true a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import all_answers, need_service, upto

PASSWORD = "a browser test password"
WHO = "staff@example.gov"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = need_service("Chromium", "MATRIXGEN_TEST_CHROMIUM")
    driver_path = os.environ.get("MATRIXGEN_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1366,900",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(demo_run, tmp_path_factory):
    """The demo's store (a copy), a staff user, and `matrixgen serve`'s app in uvicorn on a free port."""
    import uvicorn

    from matrixgen.demo import DEMO_KEY
    from matrixgen.store import Store
    from matrixgen.web import create_app
    from matrixgen.web.accounts import Accounts

    home = tmp_path_factory.mktemp("served") / "demo"
    shutil.copytree(demo_run.out, home)
    store = Store.open(home / "matrixgen.db", home, create=False)
    Accounts(store.engine).add(WHO, PASSWORD, "staff")
    app = create_app(store, key=DEMO_KEY, data_dir=home)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store, home
    uv.should_exit = True
    thread.join(10)
    store.close()


class Visit:
    """Checks every page the browser shows: console, accessibility, screenshot."""

    def __init__(self, driver, shots: Path):
        import selenium_axe_python

        self.driver, self.shots = driver, shots
        self.axe = (Path(selenium_axe_python.__file__).parent / "axe-core" / "axe.min.js").read_text()
        self.console: list[str] = []
        self.violations: list[str] = []

    def check(self, name: str) -> None:
        d = self.driver
        self.console += [f"{name}: {e['message']}" for e in d.get_log("browser") if e["level"] == "SEVERE"]
        # axe-core, injected through the driver (not a page script, so the page's CSP stays as strict as it is).
        d.execute_script(self.axe)
        found = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations)).catch(e => done(String(e)));")
        assert isinstance(found, list), found
        self.violations += [f"{name}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                            for v in found if v["impact"] in ("serious", "critical")]
        height = d.execute_script("return Math.min(document.documentElement.scrollHeight, 3000)")
        d.set_window_size(1366, max(900, height))
        d.save_screenshot(str(self.shots / f"{name}.png"))
        d.set_window_size(1366, 900)


def wait_for(driver, css: str, seconds: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))
    except Exception:
        shots = os.environ.get("MATRIXGEN_SCREENSHOTS")
        if shots:  # what the browser showed instead, to look at
            driver.save_screenshot(str(Path(shots) / "timed-out.png"))
        raise AssertionError(f"{css} did not appear on {driver.current_url}") from None


def make_returns(store, folder: Path) -> tuple[Path, Path, str]:
    """NW-AM's own workbook (it never returned in the demo) and a generic blank with a roster name mistyped."""
    from matrixgen.simulate import fill

    issued = {w.partnership_id: Path(w.path) for w in store.issued("2026")}
    own = folder / "NW-AM_return.xlsx"
    own.write_bytes(fill(issued["NW-AM"].read_bytes(), upto("emerging")))
    name = store.partnership("SE-AM").name
    typed = folder / "generic-return.xlsx"
    typed.write_bytes(fill(issued[None].read_bytes(), all_answers(), typed={"Partnership name": name.replace("a", "", 1)}))
    return own, typed, name


def test_browser__a_round_from_sign_in_to_report(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    base, store, _home = server
    shots = Path(os.environ.get("MATRIXGEN_SCREENSHOTS") or tmp_path / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    visit = Visit(browser, shots)
    d = browser

    d.get(f"{base}/rounds/2026")
    assert "/signin" in d.current_url
    visit.check("signin")
    d.find_element(By.ID, "email").send_keys(WHO)
    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait_for(d, "table.status-table")
    assert d.current_url.endswith("/rounds/2026")
    visit.check("round")

    d.get(f"{base}/rounds")
    visit.check("rounds")
    d.find_element(By.LINK_TEXT, "2026").click()
    d.find_element(By.LINK_TEXT, "Upload returns").click()
    visit.check("upload")
    own, typed, name = make_returns(store, tmp_path)
    d.find_element(By.ID, "files").send_keys(f"{own}\n{typed}")
    assert d.find_element(By.CSS_SELECTOR, "[data-chosen]").text == "2 files chosen"
    d.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    wait_for(d, "table.results")  # the page follows the job and shows the result when it is done
    text = d.find_element(By.CSS_SELECTOR, "table.results").text
    assert "NW-AM_return.xlsx" in text and "scored" in text and "generic-return.xlsx" in text and "in review" in text
    visit.check("upload-result")

    d.get(f"{base}/review")
    visit.check("review")
    d.find_element(By.XPATH, "//article[.//h2[contains(., 'generic-return.xlsx')]]"
                             "//button[normalize-space(.) = 'Accept as SE-AM']").click()
    assert "accepted" in wait_for(d, ".flash").text
    decided = [i for i in store.review_items("2026", waiting_only=False) if i.file == "generic-return.xlsx"]
    assert [(i.state, i.decided_by) for i in decided] == [("accepted", WHO)]

    d.get(f"{base}/partnerships/NW-AM")
    wait_for(d, "svg.chart")
    visit.check("partnership")
    d.find_element(By.CSS_SELECTOR, "a[href='/partnerships/NW-AM/rounds/2026/report']").click()
    wait_for(d, ".report-bar")
    assert "Where you stand" in d.page_source
    visit.check("report")
    d.find_element(By.LINK_TEXT, "Download the PDF").click()
    deadline = time.monotonic() + 60
    while not list(d.downloads.glob("report-2026-NW-AM.pdf")):
        assert time.monotonic() < deadline, "the PDF did not download"
        time.sleep(0.2)
    time.sleep(0.5)
    assert (d.downloads / "report-2026-NW-AM.pdf").read_bytes()[:5] == b"%PDF-"

    for name in ("partnerships", "rubric", "jobs", "audit"):
        d.get(f"{base}/{name}")
        visit.check(name)

    assert visit.console == []
    assert visit.violations == []
