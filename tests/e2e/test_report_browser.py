"""`vdsl report` in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.
The page renders without a console error, shows what it should, starts each trace at its first
divergence, and its buttons move the selection.  Without chromium (or Playwright) the tests are
skipped on a workstation, and fail in CI (`CI` set), where the README's test command installs it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SPECS, run_vdsl


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        why = "need Playwright (pip install -e '.[test]') and chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests {why}, and CI must run them")
        pytest.skip(f"the browser tests {why}")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("report") / "report.html"
    result = run_vdsl("report", str(SPECS / "pg74.vspec"), "--scenario", "getm", "--scenario", "takeover",
                      "-o", str(target))
    assert (result.returncode, result.stderr) == (0, "")
    return target


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


class Opened:
    """A page of the report, with every console message, page error and request it made."""

    def __init__(self, browser: Any, report: Path, width: int = 1280) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda message: self.problems.append(f"console {message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(report.as_uri())
        self.page.wait_for_load_state("load")

    def selected(self, scenario: str) -> Any:
        return self.page.locator(f"#scenario-{scenario} tr.selected")

    def shown_panel(self, scenario: str) -> Any:
        return self.page.locator(f"#scenario-{scenario} .step-state:visible")


@pytest.fixture
def opened(browser: Any, report: Path) -> Iterator[Opened]:
    page = Opened(browser, report)
    yield page
    page.page.close()


def test_it_renders_with_no_console_error_and_fetches_nothing(opened: Opened, report: Path) -> None:
    page = opened.page
    assert page.title() == f"vdsl report: {SPECS / 'pg74.vspec'}"
    assert page.locator("h1").inner_text() == "vdsl report"
    assert page.locator("h2").all_inner_texts() == ["isa pg74_getm", "isa pg74_flat", "Scenarios side by side"]
    assert page.locator("h3").all_inner_texts()[-2:] == ["scenario getm", "scenario takeover"]
    body = page.locator("body").inner_text()
    assert "T1's condition fails: sensitive but not privileged: GETM (mode-sensitive)" in body
    assert "Guest kernel diverges at step 1 (pc 20): GETM" in body
    assert "why: GETM is mode-sensitive, behaviour-sensitive: it breaks T1's condition" in body
    assert page.locator("svg").count() == 10  # two isas' classes, two scenarios' four diagrams
    assert opened.problems == []
    assert opened.requests == [report.as_uri()]


def test_each_trace_starts_at_its_first_divergence_highlighted(opened: Opened) -> None:
    row = opened.selected("getm")
    assert row.count() == 1
    assert row.get_attribute("id") == "trace-getm-divergence-kernel"
    assert "divergence" in (row.get_attribute("class") or "")
    assert row.locator("td").all_inner_texts()[1:6] == ["kernel", "1", "20", "GETM", "divergence"]
    background = row.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert background == "rgb(249, 180, 174)"  # the selected divergence's colour
    panel = opened.shown_panel("getm")
    assert panel.count() == 1
    assert "guest kernel, step 1 (pc 20), run directly on the real machine" in panel.inner_text()
    assert "A\t0\t1" in panel.inner_text()
    assert opened.page.locator("#scenario-getm .position").inner_text() == "event 2 (2 of 14 shown)"
    takeover = opened.selected("takeover")
    assert takeover.locator("td").all_inner_texts()[1:6] == ["task", "2", "42", "STORE 5", "divergence"]
    assert opened.problems == []


def test_the_buttons_arrows_and_rows_move_the_selection(opened: Opened) -> None:
    page = opened.page
    page.click("#scenario-getm button.next")
    row = opened.selected("getm")
    assert row.locator("td").all_inner_texts()[1:6] == ["kernel", "2", "21", "STORE 50", "direct"]
    # past the divergence the bare twin has stopped: nothing to compare, and the page says so
    assert opened.shown_panel("getm").inner_text().startswith("No comparison with the bare machine")
    page.click("#scenario-getm button.prev")
    page.click("#scenario-getm button.prev")
    assert opened.selected("getm").get_attribute("data-row") == "0"
    assert "guest kernel, step 1 (pc 20)" in opened.shown_panel("getm").inner_text()
    page.click("#scenario-getm button.prev")  # the first stays selected
    assert opened.selected("getm").get_attribute("data-row") == "0"
    page.locator("#scenario-getm .trace").press("ArrowDown")
    assert opened.selected("getm").get_attribute("data-row") == "1"
    page.locator("#scenario-getm tr[data-row='7']").click()
    assert opened.selected("getm").locator("td").all_inner_texts()[1:6] == ["app", "1", "20", "GETM", "direct"]
    assert "guest app, step 1 (pc 20), run directly on the real machine" in opened.shown_panel("getm").inner_text()
    assert page.locator("#scenario-getm tr.selected").count() == 1
    # the other scenario's trace did not move
    assert opened.selected("takeover").get_attribute("id") == "trace-takeover-divergence-task"
    assert opened.problems == []


def test_a_link_to_a_witness_opens_it(opened: Opened) -> None:
    page = opened.page
    witness = page.locator("#explain-pg74_getm-GETM")
    assert witness.get_attribute("open") is None
    page.click("a[href='#explain-pg74_getm-GETM']")
    page.wait_for_function("document.getElementById('explain-pg74_getm-GETM').open")
    assert "mode-sensitive: yes" in witness.inner_text()
    assert opened.problems == []


def test_a_narrow_window_scrolls_the_wide_tables_not_the_page(browser: Any, report: Path) -> None:
    narrow = Opened(browser, report, width=600)
    try:
        assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 600
        assert narrow.problems == []
    finally:
        narrow.page.close()
