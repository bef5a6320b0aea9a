"""The dashboard's charts and headline figures from the services' answers (DOMAIN.md §6 统计)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from console.domain.charts import pareto_chart, series_chart
from console.entrypoints.pages.dashboard import _script_json, build_charts, kpis
from console.service.dashboard import DashboardQuery
from console.service.gathering import Answers

PARETO = {
    "total": 11,
    "defect_types": [
        {"defect_type": "crack 裂纹", "complaints": 6, "share": "54.5", "cumulative": "54.5"},
        {"defect_type": "", "complaints": 5, "share": "45.5", "cumulative": "100.0"},
    ],
}


def answers(**found: object) -> Answers:
    return Answers(dict(found), {})


def test_the_pareto_of_defect_types_draws_bars_and_the_cumulative_line_from_the_rows_it_tabulates() -> None:
    """§6: Pareto of defect types – descending bars and the cumulative share."""
    chart = next(c for c in build_charts(answers(pareto=PARETO), "zh") if c.id == "pareto")
    assert chart.option["xAxis"]["data"] == ["crack 裂纹", "未分类"]
    assert chart.option["series"][0]["data"] == [6, 5]
    assert chart.option["series"][1]["data"] == [54.5, 100.0]
    assert chart.rows == [["crack 裂纹", "6", "54.5 %", "54.5 %"], ["未分类", "5", "45.5 %", "100.0 %"]]
    english = next(c for c in build_charts(answers(pareto=PARETO), "en") if c.id == "pareto")
    assert english.title == "Pareto of defect types" and english.rows[1][0] == "unclassified"


def test_cost_of_poor_quality_stacks_compensation_and_penalties_per_period() -> None:
    """§6: cost of poor quality = compensation + penalties."""
    cost = {
        "rows": [
            {"period": "2026-10", "compensation": "100.00", "penalties": "20.50", "total": "120.50"},
            {"period": "2026-11", "compensation": "0.00", "penalties": "300.00", "total": "300.00"},
        ],
        "totals": {"total": "420.50"},
    }
    chart = next(c for c in build_charts(answers(cost=cost), "en") if c.id == "cost")
    assert chart.option["xAxis"]["data"] == ["2026-10", "2026-11"]
    by_name = {s["name"]: s["data"] for s in chart.option["series"]}
    assert by_name == {"Compensation": [100.0, 0.0], "Penalties": [20.5, 300.0]}
    assert ["2026-10", "Penalties", "20.50"] in chart.rows
    assert kpis(answers(cost=cost))["cost"] == "420.50"


def test_a_panel_the_role_may_not_read_says_so_and_the_others_still_draw() -> None:
    found = Answers({"pareto": PARETO}, {"cost": "forbidden", "on_time": "unavailable:investigation"})
    charts = {c.id: c for c in build_charts(found, "zh")}
    assert charts["cost"].problem == "您的角色无权查看这些数据。"
    assert charts["on-time"].problem is not None and "investigation" in charts["on-time"].problem
    assert charts["pareto"].problem is None and not charts["pareto"].empty


def test_the_on_time_headline_counts_breached_deadlines_as_missed() -> None:
    """§3 deadlines: a pending deadline past due counts against the rate like a late one."""
    on_time = {
        "milestones": [{"milestone": "first_response", "on_time": 3, "late": 0, "breached": 1, "on_time_rate": 0.75}]
    }
    assert kpis(answers(on_time=on_time))["on_time"] == Decimal("75.0")
    chart = next(c for c in build_charts(answers(on_time=on_time), "zh") if c.id == "on-time")
    assert chart.option["yAxis"]["data"] == ["首次响应"] and chart.rows == [["首次响应", "75.0 %", "3", "4"]]


def test_series_order_keys_by_their_total_so_the_largest_comes_first() -> None:
    chart = series_chart("t", "t", [("2026-11", "A", 1), ("2026-11", "B", 5), ("2026-12", "A", 2)])
    assert [s["name"] for s in chart.option["series"]] == ["B", "A"]
    assert chart.option["series"][1]["data"] == [1, 2]


def test_chart_json_in_a_script_element_cannot_close_it() -> None:
    text = _script_json({"name": "</script><script>alert(1)</script>"})
    assert "</script>" not in text and json.loads(text)["name"].startswith("</script>")


def test_default_period_is_the_last_twelve_months_and_five_years_for_the_yearly_view() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert (DashboardQuery.default(now).first, DashboardQuery.default(now).last) == ("2025-12", "2026-11")
    assert DashboardQuery.default(now, "year").first == "2021-12"
    assert DashboardQuery("2026-02", "2026-02").last_day == "2026-02-28"


def test_pareto_shares_come_from_the_counts() -> None:
    chart = pareto_chart("p", "p", [("a", 3, Decimal(75)), ("b", 1, Decimal(100))], headers=("k", "n", "s", "c"))
    assert [r[2] for r in chart.rows] == ["75.0 %", "25.0 %"]
