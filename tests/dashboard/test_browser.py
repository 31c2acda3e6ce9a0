"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright): after real failing SDK
runs, the overview shows the buckets, a filter narrows the list, the run page shows the failing step and
the next action, the packet downloads; a hostile span name stays text and no script runs. With
FAILPATH_SCREENSHOTS=1 it also refreshes docs/dashboard-overview.png and docs/dashboard-run.png, the
screenshots README shows."""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

from tests.dashboard.test_server import HOSTILE, dashboard_with_runs
from tests.support.harness import RunningFailpath, make_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).parents[2] / "docs"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run does)")


def _record_dialogs(page: Page) -> list[str]:
    """Messages of any alert a script on the page raised (there must be none)."""
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def _screenshot(page: Page, name: str) -> None:
    """The page as a person sees it on opening, into docs/ for README (with FAILPATH_SCREENSHOTS=1)."""
    if os.environ.get("FAILPATH_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_with_runs(tmp_path_factory.mktemp("browser"), "http://127.0.0.1:16686/trace/{trace_id}") as found:
        yield found[1]


def test_an_engineer_goes_from_the_overview_to_what_to_do(browser: Browser, dashboard: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    dialogs = _record_dialogs(page)
    page.goto(dashboard + "/")
    assert "tool_execution" in page.inner_text("table")
    # The chart stacks each bucket's failures in its slot: 2 tool_execution + 1 unknown, in the last hour.
    stacked: dict[str, int] = {}
    for title in page.locator("svg.chart rect title").all_text_contents():  # "bucket: count (slot)"
        bucket, count = title.split(" (")[0].split(": ")
        stacked[bucket] = stacked.get(bucket, 0) + int(count)
    assert stacked == {"tool_execution": 2, "unknown": 1}
    _screenshot(page, "dashboard-overview.png")
    page.click("table a:text('tool_execution')")  # the bucket's link: its runs in the window
    assert page.url.endswith("/runs?bucket=tool_execution&hours=24")
    page.fill("input[name=model]", "gpt-x")
    page.click("text=Filter")
    assert page.locator("a[href^='/runs/']").count() == 2
    page.locator("a[href^='/runs/']").first.click()
    body = page.inner_text("main")
    assert "✗ failing step" in body and "Next action:" in body and "failpath replay " in body
    assert page.locator("tr.failing span.fail", has_text="failing step").is_visible()
    _screenshot(page, "dashboard-run.png")
    # The waterfall draws the failing step's bar in red; its stored span opens to its redacted attributes.
    bar = page.locator("tr.failing .lane span").last
    assert bar.evaluate("element => getComputedStyle(element).backgroundColor") == "rgb(217, 45, 32)"
    failing = page.locator("details", has=page.locator("summary span.fail"))
    failing.locator("summary").click()
    assert failing.locator("td code", has_text="gen_ai.tool.name").is_visible()
    with page.expect_download() as download:
        page.click("text=Download the packet (JSON)")
    packet = json.loads(Path(download.value.path()).read_text())
    assert page.url.endswith(packet["trace_id"])
    backend = page.locator("a", has_text="trace in backend").get_attribute("href")
    assert backend == f"http://127.0.0.1:16686/trace/{packet['trace_id']}"
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert dialogs == []


def test_a_hostile_span_name_is_text_in_the_browser(browser: Browser, dashboard: str) -> None:
    page = browser.new_page()
    dialogs = _record_dialogs(page)
    page.goto(dashboard + "/runs?bucket=")
    for href in [link.get_attribute("href") for link in page.locator("a[href^='/runs/']").all()]:
        page.goto(dashboard + str(href))
        if HOSTILE in page.inner_text("main"):
            assert page.locator("script").count() == 0 and dialogs == []
            return
    pytest.fail("the hostile run's page was not found")


def test_a_wrong_token_gets_401_in_the_browser(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHBOARD_TOKEN", "dashboard-secret-token")
    dashboard = {"enabled": True, "endpoint": "127.0.0.1:0", "auth": {"token_env": "DASHBOARD_TOKEN"}}
    with RunningFailpath(make_config(tmp_path, {"dashboard": dashboard})) as failpath:
        assert failpath.pipeline.dashboard is not None
        url = failpath.pipeline.dashboard.url
        for token, status in (("wrong", 401), ("dashboard-secret-token", 200)):
            context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"})
            answer = context.new_page().goto(url)
            assert answer is not None and answer.status == status
            context.close()
