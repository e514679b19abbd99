"""index.html as a reader sees it: rendered in a real browser (Debian's headless Chromium,
driven by Playwright), every image drawn, every link resolving, and the tables' counts those of
results.csv. scripts/setup.sh --test installs Chromium, so CI always runs this."""

import csv
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from featuretransfer.report.writer import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DATA = Path(__file__).parent
# the flags a root user in a sandbox with a closed network needs (see the machine's notes)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip("no Chromium: bash scripts/setup.sh --test installs it")
    playwright = pytest.importorskip("playwright.sync_api")
    store = shutil.copytree(DATA / "fake_store", tmp_path_factory.mktemp("html") / "store")
    report = write_report(store)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=60_000)
        try:
            tab = browser.new_page()
            tab.goto((report / "index.html").as_uri(), wait_until="load", timeout=60_000)
            yield tab, store, report
        finally:
            browser.close()


def test_every_image_is_drawn(page):
    tab, _, _ = page
    images = tab.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])"
    )
    assert {src for src, _, _ in images} >= {"figure2.png", "figure3.png", "filters.png"}
    assert all(complete and width > 0 for _, complete, width in images), images


def test_every_link_resolves(page):
    tab, _, report = page
    links = tab.eval_on_selector_all("a", "els => els.map(e => e.href)")
    assert len(links) >= 6
    for link in links:
        url = urlparse(link)
        assert url.scheme == "file", link  # the report points at its own files only
        assert Path(unquote(url.path)).is_file(), link


def table(tab, heading: str) -> list[list[str]]:
    """The rows of the first table after the <h2> that starts with `heading`."""
    return tab.evaluate(
        """heading => {
            const h = [...document.querySelectorAll('h2')]
                .find(e => e.textContent.startsWith(heading));
            let e = h.nextElementSibling;
            while (e && e.tagName !== 'TABLE') e = e.nextElementSibling;
            return [...e.querySelectorAll('tr')].slice(1).map(
                r => [...r.querySelectorAll('td')].map(c => c.textContent));
        }""",
        heading,
    )


def test_the_tables_count_what_results_csv_holds(page):
    tab, store, _ = page
    rows = list(csv.DictReader((store / "results.csv").open()))
    networks = [
        (kind, label, k, status, int(n)) for kind, label, k, status, n in table(tab, "Networks")
    ]
    assert sum(n for *_, n in networks) == len(rows)
    for half in "AB":  # each half's base nets under its own name: baseA is no baseB
        shown = sum(n for kind, label, k, _, n in networks if label == f"base{half}")
        assert shown == sum(r["treatment"] == "base" and r["target"] == half for r in rows)
    anb_plus = [
        r
        for r in rows
        if (r["treatment"], r["fine_tuned"], r["split_kind"], r["status"])
        == ("transfer", "true", "random", "done")
    ]
    assert int(table(tab, "Table 1")[0][4]) == len(anb_plus)  # the AnB+ nets of cuts 1-7


def test_the_page_names_the_figures_and_the_rules(page):
    tab, _, _ = page
    text = tab.inner_text("body")
    assert "Study fake-paper" in text  # the figures' caption under them
    assert "docs/statistics.md" in text and "inconclusive" in text.lower()
