"""The built book in a real browser, offline: headless Chromium opens every page from a local server and checks
what a reader would see. Screenshots land in ``_build/screenshots`` (CI keeps them).

Needs the system's Chromium and chromedriver (Debian: ``apt-get install chromium chromium-driver``; ``.ci/run``
installs them). Without them the test skips, unless ``NIC_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a
failure.
"""

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from test_book import CHAPTERS, ROOT, toc_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SHOTS = ROOT / "_build" / "screenshots"
DESKTOP, PHONE = 1400, 390  # CSS pixels: a laptop browser, and a phone held upright
# helpers.notebook.book_style draws figures at most 5.4 in (550 px) wide with 13-point titles (18 px): shown at
# 0.58 of that or more, on a phone's 327 px column, a title's font is 10 px or more
PHONE_SCALE = 0.58


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
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        # no network: any request that leaves this machine fails, as it would for an offline reader
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
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


def screenshot(browser, url: str, name: str, width: int, part: int = 2400) -> list[Path]:
    """The whole page as a reader scrolls it: loaded afresh at ``width`` CSS pixels (a resize mid-page catches the
    theme's sidebar animation) in a window ``part`` pixels tall, one screenshot per window's height, top to bottom:
    ``_build/screenshots/NAME-WIDTH-K.png``. (Chrome's capture beyond the viewport shifted the column of long
    pages sideways and dropped content, so every part is a real viewport.)"""
    browser.set_window_size(width, part)
    browser.get(url)
    browser.execute_async_script(MATH_DONE)  # math typeset (or no MathJax on the page)
    browser.execute_script(  # no sticky bar over the top of each part
        "document.querySelectorAll('.bd-header, .bd-header-article').forEach(e => e.style.position = 'static')"
    )
    height = browser.execute_script("return document.documentElement.scrollHeight")
    view = browser.execute_script("return window.innerHeight")
    SHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, top in enumerate(range(0, height, view), start=1):
        browser.execute_script("window.scrollTo(0, arguments[0])", top)
        paths.append(SHOTS / f"{name}-{width}-{k}.png")
        browser.save_screenshot(str(paths[-1]))
    return paths


# what a reader must never see in a page: a progress bar frozen at build time, or a path of the build machine
FROZEN_PROGRESS = re.compile(r"\d+%\|[^|\n]*\|\s*\d+/\d+ \[|it/s\]")
MACHINE_PATH = re.compile(r"(/tmp/|/home/|/root/|/Users/|/private/var/|[A-Z]:\\Users|/work/|site-packages)")

CLIPPED_OUTPUTS = """
return Array.from(document.querySelectorAll('.cell_output pre, .cell_output .output, .cell_output table'))
  .filter(e => e.scrollWidth > e.clientWidth + 2 && getComputedStyle(e).overflowX !== 'visible')
  .map(e => e.innerText.slice(0, 80));
"""


@pytest.mark.slow
@pytest.mark.parametrize("page", toc_files())
def test_page_renders_offline(page, browser, server):
    url, html = server
    browser.set_window_size(DESKTOP, 1000)
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(f"{url}/{page}.html")
    text = (html / f"{page}.html").read_text()
    if 'class="math' in text:
        assert browser.execute_async_script(MATH_DONE) > 0, "MathJax did not typeset this page's math"
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"images that did not load: {broken}"
    if Path(page).stem in {md.stem for md in CHAPTERS}:
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]')).map(a => a.href)"
        )
        assert links, "no Colab badge or launch button"
        assert all(link.endswith(f"{page}.ipynb") for link in links), links
    seen = browser.find_element("css selector", "main").text
    assert not FROZEN_PROGRESS.search(seen), f"a frozen progress bar: {FROZEN_PROGRESS.search(seen)[0]!r}"
    assert not MACHINE_PATH.search(seen), f"a path of the build machine: {MACHINE_PATH.search(seen)[0]!r}"
    clipped = browser.execute_script(CLIPPED_OUTPUTS)
    assert not clipped, f"outputs cut at the right edge of a {DESKTOP} px window: {clipped}"
    titles = browser.title.split(" — ")
    assert len(titles) == len(set(titles)), f"the tab repeats its title: {browser.title!r}"
    alts = browser.execute_script(
        "return Array.from(document.querySelectorAll('main img')).map(i => i.getAttribute('alt') || '')"
    )
    hashed = [a for a in alts if re.fullmatch(r"[0-9a-f]{20,}.*", a) or a.endswith(".png")]
    assert not hashed, f"images whose alt text is a file name: {hashed}"
    screenshot(browser, f"{url}/{page}.html", Path(page).name, DESKTOP)
    screenshot(browser, f"{url}/{page}.html", Path(page).name, PHONE)  # leaves the window at phone width
    shown_images = browser.execute_script(  # the images shown, not the explorer's hidden frames
        "return Array.from(document.querySelectorAll('.cell_output img')).filter(i => i.getClientRects().length)"
        ".map(i => [i.getBoundingClientRect().width, i.naturalWidth, i.alt])"
    )
    shrunk = [
        (round(shown / natural, 2), alt[:60]) for shown, natural, alt in shown_images if shown < PHONE_SCALE * natural
    ]
    assert not shrunk, f"figures shrunk below {PHONE_SCALE} on a phone (text under 10 px): {shrunk}"
    errors = [
        e
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE"
        and not any(
            benign in e["message"]
            for benign in (
                "favicon.ico",  # the browser asks for a favicon the book does not have
                "Got invalid theme mode",  # the theme's note on a first visit, before any light/dark choice is stored
            )
        )
    ]
    assert not errors, errors


VISIBLE_TOGGLE = """
return Array.from(document.querySelectorAll(arguments[0]))
  .find(b => b.offsetParent !== null && b.getClientRects().length);
"""


@pytest.mark.slow
def test_phone_navigation_opens_the_chapter_list(browser, server):
    """At 390 px the sidebar hides behind ☰: tapping it must show the chapter list (pydata-sphinx-theme#2451 left
    the visible button unbound); the contents button must show the page's sections."""
    url, _ = server
    browser.set_window_size(PHONE, 844)
    browser.get(f"{url}/{toc_files()[1]}.html")
    nav = browser.find_element("css selector", "#pst-primary-sidebar")
    assert not nav.is_displayed() or nav.rect["width"] == 0 or nav.rect["x"] < 0, "the sidebar should start hidden"
    button = browser.execute_script(VISIBLE_TOGGLE, ".primary-toggle")
    assert button is not None, "no visible ☰ button at 390 px"
    button.click()
    dialog = browser.find_element("css selector", "#pst-primary-sidebar-modal")
    assert dialog.get_attribute("open") is not None, "tapping ☰ opened nothing"
    chapters = [a.text for a in dialog.find_elements("css selector", "a.reference.internal") if a.is_displayed()]
    assert len(chapters) >= len(CHAPTERS), f"the chapter list shows {chapters}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "phone-navigation-390.png"))
    browser.execute_script("arguments[0].close()", dialog)
    button = browser.execute_script(VISIBLE_TOGGLE, ".secondary-toggle")
    assert button is not None, "no visible contents button at 390 px"
    button.click()
    dialog = browser.find_element("css selector", "#pst-secondary-sidebar-modal")
    assert dialog.get_attribute("open") is not None, "tapping the contents button opened nothing"
    assert any(a.is_displayed() for a in dialog.find_elements("css selector", "a")), "no section links"


@pytest.mark.slow
def test_desktop_menu_button_collapses_the_sidebar(browser, server):
    url, _ = server
    browser.set_window_size(DESKTOP, 1000)
    browser.get(f"{url}/{toc_files()[1]}.html")
    nav = browser.find_element("css selector", "#pst-primary-sidebar")
    assert nav.is_displayed()
    browser.execute_script(VISIBLE_TOGGLE, ".primary-toggle").click()
    assert "pst-sidebar-hidden" in nav.get_attribute("class") or not nav.is_displayed()


@pytest.mark.slow
def test_the_rate_explorer_slides_in_the_static_book(browser, server):
    """Chapter 3's explorer is a real control in the offline book: moving the range input shows another frame."""
    url, _ = server
    page = next(p for p in toc_files() if "cae" in p)
    browser.set_window_size(DESKTOP, 1000)
    browser.get(f"{url}/{page}.html")
    slider = browser.find_element("css selector", ".nic-explorer input[type=range]")
    shown = "return Array.from(arguments[0].querySelectorAll('figure')).findIndex(f => f.style.display !== 'none')"
    explorer = browser.find_element("css selector", ".nic-explorer")
    assert browser.execute_script(shown, explorer) == 0
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    from selenium.webdriver.common.keys import Keys

    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert browser.execute_script(shown, explorer) == 2
    figures = explorer.find_elements("css selector", "figure")
    assert sum(f.is_displayed() for f in figures) == 1 and len(figures) > 3


@pytest.mark.slow
def test_search_snippets_quote_the_prose(browser, server):
    """Every snippet read "...Colab" (the stemmed word was never found, and the page text began with the launch
    button's whitespace): each must now quote the page around the word searched for."""
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    browser.set_window_size(DESKTOP, 1000)
    browser.get(f"{url}/search.html?q=entropy")
    found = "return Array.from(document.querySelectorAll('#search-results li p.context')).map(p => p.innerText)"
    WebDriverWait(browser, 30).until(lambda d: len(d.execute_script(found)) >= 4)
    snippets = browser.execute_script(found)
    assert all("entropy" in s.lower() and "Colab" not in s for s in snippets), snippets
