"""Page furniture as PDF/UA artifacts: one post-processing step on WeasyPrint's PDF.

WeasyPrint tags the content of page-margin boxes (our running header, footer and page numbers)
as marked content and gives it structure elements that point up to ``/Document`` without being
its children, so the structure tree never reaches them (upstream issue Kozea/WeasyPrint#1836,
"PDF/UA page header and footer"). PDF/UA-1 wants such pagination content marked ``/Artifact``.
``artifact_orphans`` rewrites every marked-content sequence the structure tree cannot reach as
a pagination artifact and drops its structure elements and parent-tree entries.

Remove this module (and its call in ``render.py``) once #1836 is fixed upstream: the
reachability test in ``tests/test_report_tagging.py`` then passes on WeasyPrint's own output.
"""

from __future__ import annotations

import io
import re

import pikepdf

# WeasyPrint (pydyf) writes a tagged sequence as "/Span\n<</MCID 7>>\nBDC".
MARKED = re.compile(rb"/[A-Za-z][A-Za-z0-9]*\s*<<\s*/MCID\s+(\d+)\s*>>\s*BDC")
ARTIFACT = b"/Artifact\n<</Type /Pagination>>\nBDC"


def reachable_mcids(pdf: pikepdf.Pdf) -> set[tuple[tuple[int, int], int]]:
    """(page object id, MCID) of every marked-content sequence the structure tree reaches."""
    found: set[tuple[tuple[int, int], int]] = set()
    seen: set[tuple[int, int]] = set()
    stack = [(pdf.Root.StructTreeRoot, None)]
    while stack:
        node, page = stack.pop()
        if not isinstance(node, pikepdf.Dictionary):
            continue
        if node.is_indirect:
            if node.objgen in seen:
                continue
            seen.add(node.objgen)
        page = node.get("/Pg", page)
        kind = node.get("/Type")
        if kind == "/MCR":
            found.add((node.get("/Pg", page).objgen, int(node.MCID)))
            continue
        if kind == "/OBJR":
            continue
        kids = node.get("/K")
        for kid in kids if isinstance(kids, pikepdf.Array) else () if kids is None else (kids,):
            if isinstance(kid, int) or getattr(kid, "_type_code", None) == pikepdf.ObjectType.integer:
                if page is not None:
                    found.add((page.objgen, int(kid)))
            else:
                stack.append((kid, page))
    return found


def artifact_orphans(data: bytes) -> bytes:
    """The PDF with every unreachable marked-content sequence turned into a pagination artifact."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        reached = reachable_mcids(pdf)
        parents = _parent_tree(pdf)
        changed = False
        for page in pdf.pages:
            key = page.obj.objgen
            content = _content(page)
            orphans: set[int] = set()

            def mark(match: re.Match) -> bytes:
                mcid = int(match.group(1))
                if (key, mcid) in reached:
                    return match.group(0)
                orphans.add(mcid)
                return ARTIFACT

            rewritten = MARKED.sub(mark, content)
            if not orphans:
                continue
            changed = True
            page.obj.Contents = pdf.make_stream(rewritten)
            entries = parents.get(int(page.obj.get("/StructParents", -1)))
            if entries is not None:
                for mcid in orphans:
                    if mcid < len(entries):
                        entries[mcid] = None
                while len(entries) and entries[len(entries) - 1] is None:
                    del entries[len(entries) - 1]
        if not changed:
            return data
        out = io.BytesIO()
        # Only objects still referenced are written: the orphans' structure elements go with
        # their parent-tree entries.
        pdf.save(out, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return out.getvalue()


def _content(page: pikepdf.Page) -> bytes:
    contents = page.obj.Contents
    if isinstance(contents, pikepdf.Array):
        return b"\n".join(part.read_bytes() for part in contents)
    return contents.read_bytes()


def _parent_tree(pdf: pikepdf.Pdf) -> dict[int, pikepdf.Array]:
    """StructParents key -> the page's array of structure elements by MCID (a flat /Nums, as
    WeasyPrint writes it)."""
    nums = pdf.Root.StructTreeRoot.ParentTree.get("/Nums", pikepdf.Array())
    return {int(nums[i]): nums[i + 1] for i in range(0, len(nums) - 1, 2)
            if isinstance(nums[i + 1], pikepdf.Array)}
