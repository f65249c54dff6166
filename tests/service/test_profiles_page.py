"""People's own profile through the page in a real Chromium: opting out, "not me", confirming a topic,
"not helpful", asking for mentoring until the mentor is busy, and the export of one's data."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from index.experts.corrections import CorrectionSettings
from tests.service.conftest import proxy_headers
from tests.service.profile_corpus import (  # noqa: F401  (fixtures)
    Served,
    profile_home_fixture,
    served_fixture,
)
from tests.service.test_page import browser, new_page, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser


def as_user(browser: Browser, user: str) -> Page:  # noqa: F811
    return new_page(browser, headers=proxy_headers(user, "staff"))


def search(page: Page, served: Served, query: str) -> None:
    page.goto(served.running.url + "/?" + f"q={query.replace(' ', '+')}")
    expect(page.locator("#experts .person").first).to_be_visible(timeout=30_000)


def people(page: Page) -> list[str]:
    return page.locator("#experts .person").evaluate_all("items => items.map(i => i.dataset.person)")


def scores(served: Served, q: str, user: str) -> dict[str, float]:
    with served.running.client() as c:
        found = c.get("/experts", params={"q": q}, headers=proxy_headers(user, "staff")).json()["experts"]
    return {e["person_id"]: e["score"] for e in found}


def open_my_profile(page: Page, served: Served) -> None:
    page.goto(served.running.url + "/")
    page.get_by_role("button", name="My profile").click()
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.get_by_role("heading", name="Your topics")).to_be_visible()


def test_opting_out_and_not_me_in_the_page(browser: Browser, served: Served) -> None:  # noqa: F811
    frank, alice = as_user(browser, "frank"), as_user(browser, "alice")
    search(frank, served, "postgres backups")
    assert people(frank)[0] == "alice"
    open_my_profile(alice, served)
    shot(alice, "desktop-my-profile")
    alice.get_by_label("Suggest me in “who knows” results").uncheck()
    alice.get_by_role("button", name="Save settings").click()
    expect(alice.locator("#profile-state")).to_contain_text("Saved")
    expect(alice.get_by_label("Suggest me in “who knows” results")).not_to_be_checked()
    search(frank, served, "postgres backups")
    assert "alice" not in people(frank)  # at once
    alice.get_by_label("Suggest me in “who knows” results").check()
    alice.get_by_role("button", name="Save settings").click()
    expect(alice.locator("#profile-state")).to_contain_text("Saved")
    alice.get_by_role("button", name="Not me: postgres").click()
    expect(alice.locator("#profile-state")).to_contain_text("Not me: postgres")
    expect(alice.locator(".topic-row", has_text="hidden from others")).to_contain_text("postgres")
    search(frank, served, "postgres backups")
    assert "alice" not in people(frank)
    expect(
        frank.locator(".result h3", has_text="Postgres backups runbook")
    ).to_be_visible()  # her documents stay
    search(frank, served, "kubernetes ingress")
    assert people(frank)[0] == "alice"  # gone for that topic only
    assert not frank.errors and not alice.errors  # type: ignore[attr-defined]
    frank.context.close()
    alice.context.close()


def test_confirming_a_topic_in_the_page_ranks_higher(browser: Browser, served: Served) -> None:  # noqa: F811
    frank, erin = as_user(browser, "frank"), as_user(browser, "erin")
    search(frank, served, "terraform")
    before = people(frank)
    assert before.index("erin") > before.index("dave")
    open_my_profile(erin, served)
    erin.get_by_role("button", name="Confirm: terraform").click()
    expect(erin.locator(".topic-row", has_text="terraform")).to_contain_text("confirmed")
    search(frank, served, "terraform")
    after = people(frank)
    assert after.index("erin") < after.index("dave")
    expect(frank.locator('#experts .person[data-person="erin"] .badge.note')).to_contain_text(
        "confirmed by them"
    )
    erin.get_by_label("Add a topic you know").fill("Packer images")
    erin.get_by_role("button", name="Add", exact=True).click()
    expect(erin.locator(".topic-row", has_text="Packer images")).to_contain_text("self-declared")
    frank.context.close()
    erin.context.close()


def test_not_helpful_in_the_page_moves_the_ranking_within_the_bound(browser: Browser, served: Served) -> None:  # noqa: F811
    erin = as_user(browser, "erin")
    score = scores(served, "terraform", "erin")
    search(erin, served, "terraform")
    assert people(erin)[:2] == ["alice", "dave"]
    button = erin.get_by_role("button", name="Not helpful: Dave Dias")
    button.click()
    expect(erin.get_by_role("button", name="Not helpful: Dave Dias")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert people(erin).index("dave") > 1
    moved = scores(served, "terraform", "erin")
    assert moved["dave"] / score["dave"] == pytest.approx(
        math.exp(-CorrectionSettings().vote_weight), rel=1e-6
    )
    erin.reload()
    expect(erin.get_by_role("button", name="Not helpful: Dave Dias")).to_have_attribute(
        "aria-pressed", "true"
    )
    erin.get_by_role("button", name="Not helpful: Dave Dias").click()  # pressed again: taken back
    expect(erin.get_by_role("button", name="Not helpful: Dave Dias")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert people(erin)[:2] == ["alice", "dave"]
    assert not erin.errors  # type: ignore[attr-defined]
    erin.context.close()


def test_a_mentor_at_capacity_shows_as_busy(browser: Browser, served: Served) -> None:  # noqa: F811
    frank, dave = as_user(browser, "frank"), as_user(browser, "dave")
    search(frank, served, "terraform")
    card = frank.locator('#experts .person[data-person="dave"]')
    expect(card.locator(".badge.mentor")).to_have_text("Mentoring · 1 of 1 place free")
    card.get_by_role("button", name="Ask Dave Dias to be your mentor").click()
    expect(card.get_by_role("status")).to_contain_text("Request sent to Dave Dias")
    assert served.hook.received[-1][1]["mentor"]["person_id"] == "dave"
    open_my_profile(dave, served)
    dave.get_by_role("button", name="Accept frank").click()
    expect(dave.locator(".request", has_text="frank")).to_contain_text("accepted")
    expect(dave.locator(".settings")).to_contain_text("you show as busy")
    search(frank, served, "terraform")
    card = frank.locator('#experts .person[data-person="dave"]')
    expect(card.locator(".badge.busy")).to_have_text("Busy: every mentoring place is taken")
    expect(card.get_by_role("button", name=re.compile("to be your mentor"))).to_have_count(0)
    assert people(frank)[-1] == "dave"  # after everyone with room, not hidden
    shot(frank, "desktop-busy-mentor")
    assert served.hook.received[-1][0]["x-whoknows-event"] == "mentoring.accepted"
    frank.context.close()
    dave.context.close()


def test_exporting_my_data(browser: Browser, served: Served) -> None:  # noqa: F811
    alice = as_user(browser, "alice")
    open_my_profile(alice, served)
    with alice.expect_download() as download:
        alice.get_by_role("button", name="Export my data").click()
    path = download.value.path()
    assert download.value.suggested_filename == "whoknows-alice.json"
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    assert data["person_id"] == "alice" and data["settings"]["listed"] is True
    assert "quokkabudget" not in json.dumps(data)
    assert not alice.errors  # type: ignore[attr-defined]
    alice.context.close()


def test_signed_out_the_page_offers_no_profile_actions(browser: Browser, served: Served) -> None:  # noqa: F811
    page = new_page(browser)
    search(page, served, "terraform")
    expect(page.get_by_role("button", name="My profile")).to_be_hidden()
    expect(page.locator("#experts .person-actions")).to_have_count(0)
    page.context.close()
