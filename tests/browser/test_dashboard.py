"""The dashboard and My work in the browser: what a quality manager reads off the charts and
their tables (DOMAIN.md §6), in Chinese and English, and factory isolation (CONTRACT.md auth:
a user never sees another factory's data)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Console
from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import COMPLAINT
from tests.helpers import auth

# F01: 3 cracks, 2 scratches, 1 without a type; F02: 4 cracks the F01 user must never count.
DEFECTS = {"F01": ["crack 裂纹"] * 3 + ["scratch 划伤"] * 2 + [None], "F02": ["crack 裂纹"] * 4}


def register(stack: Stack) -> dict[str, list[str]]:
    numbers: dict[str, list[str]] = {"F01": [], "F02": []}
    with httpx.Client(timeout=30) as client:
        for factory, defects in DEFECTS.items():
            for i, defect in enumerate(defects):
                body: dict[str, Any] = copy.deepcopy(COMPLAINT)
                body.update(factory=factory, external_ref=f"dash-{uuid.uuid4()}")
                body["product"]["order_number"] = f"SO-{factory}-{i}"  # not a repeat of each other
                if defect:
                    body["defect_type"] = defect
                answer = client.post(
                    stack.url("intake") + "/api/v1/complaints", json=body, headers=auth("customer_service", factory)
                )
                assert answer.status_code == 201, answer.text
                numbers[factory].append(answer.json()["number"])
    return numbers


def chart_option(console: Console, chart_id: str) -> dict[str, Any]:
    option: dict[str, Any] = json.loads(console.page.locator(f"#option-{chart_id}").text_content() or "{}")
    return option


def test_the_dashboard_shows_the_factorys_own_figures_with_their_numbers_a_click_away(
    people: dict[str, Console], console_stack: Stack
) -> None:
    numbers = register(console_stack)
    manager = people["manager"].sign_in("quality_manager", "F01", name="李经理")
    page = manager.go("/dashboard")
    expect(page.locator("h1")).to_contain_text("质量看板")
    expect(page.get_by_test_id("kpi-complaints")).to_contain_text("6")  # F01's six, not F02's four

    pareto = chart_option(manager, "pareto")
    assert pareto["xAxis"]["data"] == ["crack 裂纹", "scratch 划伤", "未分类"]
    assert pareto["series"][0]["data"] == [3, 2, 1]
    assert pareto["series"][1]["data"] == [50.0, 83.3, 100.0]
    page.get_by_test_id("chart-pareto").locator("summary").click()
    table = page.get_by_test_id("numbers-pareto")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_contain_text("crack 裂纹")
    expect(table.locator("tbody tr").first).to_contain_text("50.0 %")
    expect(page.get_by_test_id("chart-pareto").locator("svg").first).to_be_visible()  # ECharts drew it
    trend = chart_option(manager, "trend-factory")
    assert [s["name"] for s in trend["series"]] == ["F01"]
    manager.shot("dashboard-zh")

    page.click("a[data-lang=en]")
    expect(page.locator("h1")).to_contain_text("Dashboard")
    expect(page.get_by_test_id("chart-pareto")).to_contain_text("Pareto of defect types")
    assert chart_option(manager, "pareto")["xAxis"]["data"][-1] == "unclassified"
    manager.shot("dashboard-en")

    # every page an F01 user can open shows nothing of F02
    for path in ("/", "/cases", "/dashboard", "/complaints", "/penalties"):
        manager.go(path)
        content = manager.page.content()
        assert not any(n in content for n in numbers["F02"]), path
        assert "F02-" not in content, path
    expect(manager.go(f"/cases/{numbers['F02'][0]}").locator("[data-status='404']")).to_be_visible()


def test_my_work_lists_the_cases_due_and_the_unread_notices_and_marks_them_read(
    people: dict[str, Console], console_stack: Stack
) -> None:
    numbers = register(console_stack)
    qe = people["qe"].sign_in("quality_engineer", "F01", name="张工")
    page = qe.go("/")
    expect(page.locator("h1")).to_have_text("我的待办")
    mine = page.get_by_test_id("my-cases")
    for number in numbers["F01"]:
        expect(mine).to_contain_text(number)  # opened cases wait for the QE's triage
    expect(mine).not_to_contain_text("F02-")
    expect(page.get_by_test_id("due-soon")).to_contain_text("回复客户")  # customer reply within a day
    unread = int(page.get_by_test_id("unread").text_content() or "0")
    assert unread > 0
    page.get_by_test_id("mark-read").first.click()
    expect(page.get_by_test_id("unread")).to_have_text(str(unread - 1))
    qe.shot("my-work-zh")
    page.click("a[data-lang=en]")
    expect(page.locator("h1")).to_have_text("My work")
    expect(page.get_by_test_id("due-soon")).to_contain_text("Customer reply")
