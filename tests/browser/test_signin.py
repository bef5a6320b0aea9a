"""Signing in to the console, in Chinese and in English, and what a signed-out visitor gets."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.e2e.conftest import Stack


def test_a_visitor_is_sent_to_sign_in_and_comes_back_signed_in(
    people: dict[str, Console], console_stack: Stack
) -> None:
    qe = people["qe"]
    page = qe.go("/dashboard")
    expect(page).to_have_url(f"{qe.base_url}/signin?next=/dashboard")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("input[name=name]", "张工")
    page.select_option("select[name=role]", "quality_engineer")
    page.click("form[action='/signin'] button[type=submit]")
    expect(page).to_have_url(f"{qe.base_url}/dashboard")
    expect(page.get_by_test_id("who")).to_contain_text("张工 · 品质工程师 · 工厂 F01")
    qe.shot("signin-zh")

    page.click("a[data-lang=en]")
    expect(page.get_by_test_id("who")).to_contain_text("张工 · Quality engineer · Factory F01")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_test_id("who")).to_have_count(0)


def test_a_form_posted_without_the_session_csrf_token_is_refused(people: dict[str, Console]) -> None:
    qe = people["qe"].sign_in("quality_engineer")
    answer = qe.page.request.post(qe.base_url + "/signout", form={"csrf_token": "forged"}, max_redirects=0)
    assert answer.status == 403
    expect(qe.go("/").get_by_test_id("who")).to_be_visible()  # still signed in
