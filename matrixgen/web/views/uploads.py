"""Uploading returns: many files, a zip of them, by drag and drop or by choosing them; scored in the
background through the same batch as `matrixgen score`, with each file's result and problems."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.responses import Response

from ..app import Ctx, Page
from ..jobs import Progress
from ..permissions import CHANGE
from ..uploads import result_data, stage


def upload_form(ctx: Ctx) -> Response:
    info = ctx.store.round(ctx.params["label"])
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    return ctx.render("upload.html", info=info)


def upload(ctx: Ctx) -> Response:
    from ...batch import read_paths, store_results
    from ...summary import run_folder, write_outputs

    info = ctx.store.round(ctx.params["label"])
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    files = [f for f in (ctx.form.getlist("files") if ctx.form else []) if isinstance(f, UploadFile) and f.filename]
    if not files:
        return ctx.render("upload.html", http_status=400, info=info, error="Choose the returned files first, or drop them "
                                                                       "on the box.")
    web = ctx.web
    staged = stage(((f.filename or "", f.file) for f in files), web.data_dir)
    label = info.label

    def work(progress: Progress) -> dict:
        try:
            with read_paths(list(staged.names), web.rubric, web.key, web.data_dir / "archive", round_label=label,
                            names=staged.names) as reading:
                progress.set_total(len(reading.files), "scoring")
                result = store_results(reading, web.store, progress=lambda _o: progress.step())
        finally:
            staged.cleanup()
        if reading.files:
            write_outputs(result, run_folder(web.data_dir / "scores", reading.started_at),
                          [s.label for s in web.rubric.stages])
        return result_data(result, staged.refused)

    pk = web.jobs.start("upload", label, ctx.user.email, len(staged.names), work)
    ctx.audit("upload returns", label, f"job {pk}: {len(staged.names)} file(s)"
                                       + (f", {len(staged.refused)} refused" if staged.refused else ""))
    return ctx.redirect(f"/jobs/{pk}")


PAGES = [
    Page("/rounds/{label}/upload", upload_form, permission=CHANGE),
    Page("/rounds/{label}/upload", upload, methods=("POST",), permission=CHANGE, name="upload-post"),
]
