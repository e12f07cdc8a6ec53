"""The metrics page: the API's time series drawn with uPlot, per-destination health below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from console.pages import api, names, render
from console.views import rfc3339

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}


async def metrics_page(request: web.Request) -> web.Response:
    chosen = request.query.get("range", "1h")
    span = RANGES.get(chosen, RANGES["1h"])
    end = datetime.now(UTC)
    series = await api(
        request, "GET", "/v1/metrics", {"from": rfc3339(end - span), "to": rfc3339(end)}
    )
    return render(
        request,
        "metrics.html",
        {
            "series": series,
            "ranges": list(RANGES),
            "chosen": chosen,
            "destinations": await names(request, "destinations"),
            "any_data": any(sum(v) for v in series["requests"].values()),
        },
    )
