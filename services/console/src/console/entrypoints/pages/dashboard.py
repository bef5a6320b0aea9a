"""The dashboard (质量看板) of the monthly quality meeting: trends, Pareto, on-time rates, cost of
poor quality, repeats and responsible departments, each chart with its numbers beneath it."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from console.domain.charts import Chart, pareto_chart, rate_chart, series_chart, unavailable
from console.domain.labels import label
from console.entrypoints.deps import Api, CurrentUser, PageRenderer
from console.entrypoints.session import language
from console.service.dashboard import DashboardQuery, Figures, Grain, gather

router = APIRouter(include_in_schema=False)

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def _dec(value: object) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def build_charts(figures: Figures, lang: str) -> list[Chart]:
    def tr(zh: str, en: str) -> str:
        return zh if lang == "zh" else en

    def problem_text(problem: str) -> str:
        if problem == "forbidden":
            return tr("您的角色无权查看这些数据。", "Your role may not see these figures.")
        if problem.startswith("unavailable:"):
            return tr("服务暂时不可用:", "Service unavailable: ") + problem.split(":", 1)[1]
        return problem

    def unclassified(key: str) -> str:
        return key or tr("未分类", "unclassified")

    charts: list[Chart] = []
    period_h, count_h = tr("期间", "Period"), tr("客诉数", "Complaints")

    def add(name: str, chart_id: str, title: str, build: Any) -> None:
        if name in figures.problems:
            charts.append(unavailable(chart_id, title, problem_text(figures.problems[name])))
        elif figures.get(name) is None:  # not asked for
            charts.append(Chart(chart_id, title, {}, [], [], empty=True))
        else:
            charts.append(build(figures.get(name)))

    add(
        "trend_factory",
        "trend-factory",
        tr("客诉趋势(按工厂)", "Complaint trend by factory"),
        lambda a: series_chart(
            "trend-factory",
            tr("客诉趋势(按工厂)", "Complaint trend by factory"),
            [(r["period"], r["key"], int(r["complaints"])) for r in a.get("series", [])],
            kind="line",
            period_header=period_h,
            key_header=tr("工厂", "Factory"),
            value_header=count_h,
        ),
    )
    add(
        "trend_product",
        "trend-product",
        tr("客诉趋势(按产品)", "Complaint trend by product"),
        lambda a: series_chart(
            "trend-product",
            tr("客诉趋势(按产品)", "Complaint trend by product"),
            [(r["period"], r["key"], int(r["complaints"])) for r in a.get("series", [])],
            stacked=True,
            label_of=unclassified,
            period_header=period_h,
            key_header=tr("产品(料号/型号)", "Product (part / model)"),
            value_header=count_h,
        ),
    )
    add(
        "pareto",
        "pareto",
        tr("不良类型柏拉图", "Pareto of defect types"),
        lambda a: pareto_chart(
            "pareto",
            tr("不良类型柏拉图", "Pareto of defect types"),
            [(r["defect_type"], int(r["complaints"]), _dec(r["cumulative"])) for r in a.get("defect_types", [])],
            headers=(tr("不良类型", "Defect type"), count_h, tr("占比", "Share"), tr("累计占比", "Cumulative")),
            label_of=unclassified,
        ),
    )
    add(
        "on_time",
        "on-time",
        tr("各节点准时率", "On-time rate per milestone"),
        lambda a: rate_chart(
            "on-time",
            tr("各节点准时率", "On-time rate per milestone"),
            [
                (
                    m["milestone"],
                    None if m.get("on_time_rate") is None else (_dec(m["on_time_rate"]) * 100).quantize(Decimal("0.1")),
                    int(m["on_time"]),
                    int(m["on_time"]) + int(m["late"]) + int(m["breached"]),
                )
                for m in a.get("milestones", [])
            ],
            headers=(
                tr("节点", "Milestone"),
                tr("准时率", "On-time rate"),
                tr("准时", "On time"),
                tr("应完成", "Counted"),
            ),
            label_of=lambda code: _milestone(code, lang),
        ),
    )
    add(
        "cost",
        "cost",
        tr("质量成本(赔偿 + 罚款)", "Cost of poor quality (compensation + penalties)"),
        lambda a: series_chart(
            "cost",
            tr("质量成本(赔偿 + 罚款)", "Cost of poor quality (compensation + penalties)"),
            [(r["period"], tr("赔偿", "Compensation"), _dec(r["compensation"])) for r in a.get("rows", [])]
            + [(r["period"], tr("罚款/转嫁", "Penalties"), _dec(r["penalties"])) for r in a.get("rows", [])],
            stacked=True,
            period_header=period_h,
            key_header=tr("类别", "Kind"),
            value_header=tr("金额(元)", "Amount (CNY)"),
        ),
    )
    add(
        "repeats",
        "repeats",
        tr("重复客诉", "Repeat complaints"),
        lambda a: series_chart(
            "repeats",
            tr("重复客诉", "Repeat complaints"),
            [(r["period"], tr("重复客诉", "Repeats"), int(r["repeats"])) for r in a.get("periods", [])],
            period_header=period_h,
            key_header="",
            value_header=tr("重复次数", "Repeats"),
        ),
    )
    add(
        "departments",
        "departments",
        tr("责任部门", "Responsible departments"),
        lambda a: series_chart(
            "departments",
            tr("责任部门", "Responsible departments"),
            [
                (d.get("department") or tr("(无部门)", "(none)"), tr("案件", "Cases"), int(d["cases"]))
                for d in a.get("departments", [])
            ],
            period_header=tr("部门", "Department"),
            key_header="",
            value_header=tr("案件数", "Cases"),
        ),
    )
    return charts


def _milestone(code: str, lang: str) -> str:
    return label("milestone", code, "zh" if lang == "zh" else "en")


def kpis(figures: Figures) -> dict[str, Any]:
    """The headline figures above the charts; None where a service gave none."""
    out: dict[str, Any] = {"complaints": None, "repeat_rate": None, "on_time": None, "cost": None, "mean_days": None}
    trend = figures.get("trend_factory")
    if trend is not None:
        out["complaints"] = sum(int(r["complaints"]) for r in trend.get("series", []))
    repeats = figures.get("repeats")
    if repeats is not None and repeats.get("repeat_rate") is not None:
        out["repeat_rate"] = repeats["repeat_rate"]
    on_time = figures.get("on_time")
    if on_time is not None:
        ok = sum(int(m["on_time"]) for m in on_time.get("milestones", []))
        counted = sum(int(m["on_time"]) + int(m["late"]) + int(m["breached"]) for m in on_time.get("milestones", []))
        out["on_time"] = (Decimal(ok) * 100 / counted).quantize(Decimal("0.1")) if counted else None
    cost = figures.get("cost")
    if cost is not None:
        out["cost"] = cost.get("totals", {}).get("total")
    cycle = figures.get("cycle")
    if cycle is not None:
        out["mean_days"] = cycle.get("mean_days")
    return out


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    user: CurrentUser,
    api: Api,
    pages: PageRenderer,
    factory: Annotated[str | None, Query(pattern=r"^(\*|[A-Za-z0-9]{1,10})?$")] = None,
    first: Annotated[str | None, Query(alias="from", pattern=f"({MONTH})|^$")] = None,
    last: Annotated[str | None, Query(alias="to", pattern=f"({MONTH})|^$")] = None,
    grain: Grain = "month",
    product: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    default = DashboardQuery.default(pages.clock.now().astimezone(pages.zone), grain)
    query = DashboardQuery(
        first=first or default.first,
        last=last or default.last,
        grain=grain,
        factory=(factory or None) if factory != "*" else None,
        product=product or None,
    )
    figures = await gather(api, query)
    charts = build_charts(figures, language(request))
    return pages.render(
        request,
        "dashboard.html",
        {
            "query": query,
            "charts": charts,
            "chart_json": {c.id: _script_json(c.option) for c in charts if not c.empty},
            "kpis": kpis(figures),
            "factories": [] if user.all_factories else list(user.factories),
        },
    )


def _script_json(option: dict[str, Any]) -> str:
    """JSON inside <script>: no '<' left that could close the element (names come from users)."""
    return (
        json.dumps(option, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
