"""The search page in a real Chromium: search, highlights, answer, experts, profiles, documents,
keyboard use, phone width, identity (proxy headers, token field) and restricted content."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from service.app import create_app
from tests.service.conftest import HR_MARKERS, STAFF_MARKERS, Running, proxy_headers, serve, settings_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian chromium package (make system-packages)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def new_page(
    browser: Browser, width: int = 1280, height: int = 900, headers: dict[str, str] | None = None
) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": height}, extra_http_headers=headers or {}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def search(page: Page, url: str, query: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Search documents and people").fill(query)
    page.keyboard.press("Enter")
    expect(page.locator("#results-status")).to_contain_text(re.compile("result|No results"))


def test_search_shows_highlights_answer_experts_and_profile(browser: Browser, open_server: Running) -> None:
    page = new_page(browser, headers=proxy_headers("bob", "staff"))
    search(page, open_server.url, "postgres backups")
    first = page.locator(".result").first
    expect(first.locator("h3")).to_contain_text("Postgres backups runbook")
    expect(first.locator(".snippet mark").first).to_have_text(re.compile("postgres|backups", re.IGNORECASE))
    expect(first.locator(".badge.source")).to_have_text("handbook")
    expect(first.locator("time")).to_contain_text(re.compile(r"updated .* ago"))
    expect(page.locator("#index-status")).to_contain_text("Index updated")

    expect(page.locator("#answer .citations li").first).to_be_visible(timeout=30_000)
    expect(page.locator("#answer-body")).not_to_contain_text("unavailable")
    expect(page.locator("#experts .person").first).to_be_visible(timeout=30_000)
    shot(page, "desktop-search")
    person = page.locator("#experts .person-name").first
    name = person.inner_text()
    person.click()
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.locator("#viewer-title")).to_have_text(name)
    shot(page, "desktop-profile")
    page.keyboard.press("Escape")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_snippets_and_titles_are_text_not_markup(browser: Browser, open_server: Running) -> None:
    page = new_page(browser)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    search(page, open_server.url, "escaping markup pages")
    hit = page.locator(".result", has_text="Escaping")
    expect(hit.locator("h3")).to_have_text("Escaping <b>markup</b> & <img src=x onerror=alert(1)>")
    assert hit.locator("img, b, script").count() == 0
    expect(hit.locator(".snippet")).to_contain_text("<script>alert('x')</script>")
    assert not dialogs
    page.context.close()


def test_keyboard_flow(browser: Browser, open_server: Running) -> None:
    page = new_page(browser)
    page.goto(open_server.url + "/")
    expect(page.locator("#q")).to_be_focused()  # an empty page starts in the search box
    page.evaluate("document.activeElement.blur()")
    expect(page.locator("#q")).not_to_be_focused()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("database backups restore")
    page.keyboard.press("Enter")
    links = page.locator(".result-link")
    expect(links.first).to_be_visible()
    assert links.count() >= 2
    page.keyboard.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(links.nth(1)).to_be_focused()
    expect(page.locator(".result.active")).to_have_count(1)
    page.keyboard.press("ArrowUp")
    expect(links.nth(0)).to_be_focused()
    title = links.nth(0).inner_text()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.locator("#viewer-title")).to_have_text(title)
    expect(page.locator("#viewer .doc-text")).not_to_be_empty()
    shot(page, "desktop-document")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    page.context.close()


def test_phone_width(browser: Browser, open_server: Running) -> None:
    page = new_page(browser, width=375, height=812)
    search(page, open_server.url, "kubernetes upgrades")
    expect(page.locator(".result").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a 375px phone"
    box = page.locator("#q").bounding_box()
    assert box is not None and box["width"] > 250
    shot(page, "phone-search")
    page.context.close()


def test_restricted_content_stays_with_its_group(browser: Browser, open_server: Running) -> None:
    query = "salary bands quokkabudget parental leave postmortem zanzibarfailover"
    outsider = new_page(browser, headers=proxy_headers("carol", "engineering"))
    search(outsider, open_server.url, query)
    # the answer and experts panels have answered too (their placeholders are replaced)
    expect(outsider.locator("#answer-body")).not_to_contain_text("Looking for an answer", timeout=30_000)
    expect(outsider.locator("#experts-body")).not_to_contain_text("Finding people", timeout=30_000)
    expect(outsider.locator("#answer-body")).not_to_be_empty()
    body = outsider.locator("body").inner_text().replace(query, "")  # the page echoes the query
    for marker in (*HR_MARKERS, *STAFF_MARKERS):
        assert marker not in body, marker
    outsider.context.close()

    hr = new_page(browser, headers=proxy_headers("hana", "hr"))
    search(hr, open_server.url, query)
    expect(hr.locator(".result h3", has_text="Salary bands 2026")).to_be_visible()
    assert "Payments outage postmortem" not in hr.locator("#result-list").inner_text()
    shot(hr, "desktop-hr-user")
    hr.context.close()


def test_spoofed_headers_from_the_browser_are_ignored_without_a_trusted_proxy(  # type: ignore[no-untyped-def]
    browser: Browser, engine, index_home
) -> None:
    settings = settings_for(index_home, anonymous=True, trusted_proxies=[])
    with serve(create_app(settings, engine=engine)) as url:
        page = new_page(browser, headers=proxy_headers("hana", "hr"))
        search(page, url, "salary bands quokkabudget")
        assert "Salary bands 2026" not in page.locator("#result-list").inner_text()
        page.context.close()


def test_token_field_signs_in(browser: Browser, closed_server: Running, tokens: dict[str, str]) -> None:
    page = new_page(browser)
    page.goto(closed_server.url + "/?q=salary+bands")
    expect(page.locator("#results-status")).to_contain_text("Sign-in required")
    expect(page.locator("#index-status")).to_contain_text("API token")
    shot(page, "desktop-signed-out")
    page.get_by_label("Token (kept in this browser only)").fill(tokens["hr"])
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".result h3", has_text="Salary bands 2026")).to_be_visible()
    page.reload()
    expect(page.locator(".result h3", has_text="Salary bands 2026")).to_be_visible()
    page.context.close()


def test_failing_panels_stay_quiet(browser: Browser, open_server: Running) -> None:
    page = new_page(browser)
    page.route("**/experts?*", lambda route: route.fulfill(status=500, body="boom"))
    page.route("**/ask", lambda route: route.abort())
    search(page, open_server.url, "travel expenses hotel")
    expect(page.locator(".result").first).to_be_visible()
    expect(page.locator("#experts-body")).to_contain_text("unavailable right now")
    expect(page.locator("#answer-body")).to_contain_text("unavailable right now")
    assert not page.errors  # type: ignore[attr-defined]
    page.context.close()


def test_stale_index_warning(browser: Browser, engine, index_home) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(index_home, anonymous=True, stale_after_hours=0.0)
    with serve(create_app(settings, engine=engine)) as url:
        page = new_page(browser, width=375, height=700)
        page.goto(url + "/")
        expect(page.locator("#index-status")).to_contain_text("stale")
        expect(page.locator("#index-status")).to_have_class(re.compile("stale"))
        shot(page, "phone-stale")
        page.context.close()
