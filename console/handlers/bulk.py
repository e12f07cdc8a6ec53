"""Bulk retry driven by a list's query: the plan (how many match), then the job's progress,
and cancel; the team's jobs of both kinds, newest first."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from console.pages import api, redirect, render
from console.views import EVENT_FILTERS, REQUEST_FILTERS, bulk_query, filters_from

KINDS = {"events": EVENT_FILTERS, "requests": REQUEST_FILTERS}


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound()
    return kind


def _query(kind: str, form: dict[str, str]) -> dict[str, str]:
    query = bulk_query(filters_from(form, KINDS[kind]), KINDS[kind])
    if kind == "requests":
        query.pop("status", None)  # a requests job replays accepted requests only
    return query


async def plan(request: web.Request) -> web.Response:
    kind = _kind(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    query = _query(kind, form)
    answer = await api(request, "POST", f"/v1/bulk/{kind}/retry/plan", json={"query": query})
    return render(
        request,
        "_bulk_plan.html",
        {
            "kind": kind,
            "query": query,
            "query_json": json.dumps(query),
            "count": answer["estimated_count"],
            "form": form,
        },
    )


async def start(request: web.Request) -> web.StreamResponse:
    kind = _kind(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    job = await api(request, "POST", f"/v1/bulk/{kind}/retry", json={"query": _query(kind, form)})
    return redirect(request, f"/bulk/{kind}/{job['id']}")


async def _job(request: web.Request) -> tuple[str, dict[str, Any]]:
    kind = _kind(request)
    return kind, await api(request, "GET", f"/v1/bulk/{kind}/retry/{request.match_info['id']}")


async def job_page(request: web.Request) -> web.Response:
    kind, job = await _job(request)
    return render(request, "bulk_job.html", {"kind": kind, "job": job})


async def job_progress(request: web.Request) -> web.Response:
    kind, job = await _job(request)
    return render(request, "_bulk_progress.html", {"kind": kind, "job": job})


async def cancel(request: web.Request) -> web.StreamResponse:
    kind = _kind(request)
    job_id = request.match_info["id"]
    await api(request, "POST", f"/v1/bulk/{kind}/retry/{job_id}/cancel")
    return redirect(request, f"/bulk/{kind}/{job_id}")


async def jobs_page(request: web.Request) -> web.Response:
    jobs = [
        job
        for kind in KINDS
        for job in (await api(request, "GET", f"/v1/bulk/{kind}/retry", {"limit": "50"}))["models"]
    ]
    jobs.sort(key=lambda job: job["id"], reverse=True)
    return render(request, "bulk.html", {"jobs": jobs[:50]})
