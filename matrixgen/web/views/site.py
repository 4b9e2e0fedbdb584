"""The rubric as a table, the background jobs with their progress and results, and the audit log."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .. import audit
from ..app import Ctx, Page


def rubric(ctx: Ctx) -> Response:
    r = ctx.web.rubric
    matrix = [{"dimension": d, "cells": [[c for c in r.criteria if c.dimension_id == d.id and c.stage_id == s.id]
                                          for s in r.stages]} for d in r.dimensions]
    return ctx.render("rubric.html", rubric=r, matrix=matrix)


def jobs(ctx: Ctx) -> Response:
    return ctx.render("jobs.html", jobs=ctx.web.jobs.jobs())


def job(ctx: Ctx) -> Response:
    found = ctx.web.jobs.job(int(ctx.params["pk"]))
    if found is None:
        return ctx.error(404, "No such job", "There is no such job.")
    return ctx.render("job.html", job=found)


def job_json(ctx: Ctx) -> Response:
    found = ctx.web.jobs.job(int(ctx.params["pk"]))
    if found is None:
        return JSONResponse({"error": "no such job"}, status_code=404)
    return JSONResponse({"state": found.state, "done": found.done, "total": found.total, "percent": found.percent,
                         "message": found.message, "finished": found.finished})


def audit_log(ctx: Ctx) -> Response:
    return ctx.render("audit.html", entries=audit.entries(ctx.web.engine))


PAGES = [
    Page("/rubric", rubric),
    Page("/jobs", jobs),
    Page("/jobs/{pk:int}", job),
    Page("/jobs/{pk:int}.json", job_json),
    Page("/audit", audit_log),
]
