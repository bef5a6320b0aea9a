"""The console's pages, one module per area of the navigation."""

from fastapi import APIRouter

from console.entrypoints.pages import cases, complaints, dashboard, penalties, work

ROUTERS: list[APIRouter] = [work.router, complaints.router, cases.router, penalties.router, dashboard.router]
