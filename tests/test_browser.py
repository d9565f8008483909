"""The built book in a real browser, offline: headless Chromium opens every page from a local server and checks
what a reader would see. Screenshots land in ``_build/screenshots`` (CI keeps them).

Needs the system's Chromium and chromedriver (Debian: ``apt-get install chromium chromium-driver``; ``.ci/run``
installs them). Without them the test skips, unless ``NIC_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a
failure.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from test_book import CHAPTERS, ROOT, toc_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SHOTS = ROOT / "_build" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        message = "no chromium + chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("NIC_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600",
                # no network: any request that leaves this machine fails, as it would for an offline reader
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would bury the test output
        pass


@pytest.fixture(scope="module")
def server(built_book):
    run, html = built_book
    if run.returncode != 0:
        pytest.fail("the book did not build (see test_book_builds_without_warnings)")
    handler = functools.partial(_QuietHandler, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", html
    httpd.shutdown()


MATH_DONE = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup) { done(-1); return; }
MathJax.startup.promise.then(() => done(document.querySelectorAll('mjx-container').length), () => done(-2));
"""


@pytest.mark.slow
@pytest.mark.parametrize("page", toc_files())
def test_page_renders_offline(page, browser, server):
    url, html = server
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{url}/{page}.html")
    text = (html / f"{page}.html").read_text()
    if 'class="math' in text:
        assert browser.execute_async_script(MATH_DONE) > 0, "MathJax did not typeset this page's math"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    if Path(page).stem in {md.stem for md in CHAPTERS}:
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]')).map(a => a.href)")
        assert links, "no Colab badge or launch button"
        assert all(link.endswith(f"{page}.ipynb") for link in links), links
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{Path(page).name}.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and not any(
        benign in e["message"] for benign in (
            "favicon.ico",  # the browser asks for a favicon the book does not have
            "Got invalid theme mode",  # the theme's note on a first visit, before any light/dark choice is stored
        ))]
    assert not errors, errors
