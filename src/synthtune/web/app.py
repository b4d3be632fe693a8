"""``synthtune serve``: ask the documents, see cited pages, review the dataset, follow the runs.

One FastAPI app over one :class:`~synthtune.project.Project`. HTML screens are Jinja2 templates with a
small vendored script (``static/app.js``, no CDN, nothing fetched from elsewhere); everything they show
also comes from the JSON API under ``/api/`` (schema at ``/api/openapi.json``).

Handlers are ``async``: they run one at a time on the event loop, so the store's single connection and
pdfium (not thread-safe) are never used from two threads. Only answer generation, which does not touch the
store, runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from synthtune import ask as asking
from synthtune.errors import SynthtuneError
from synthtune.llm.base import Backend, make_backend
from synthtune.project import Project
from synthtune.web import review
from synthtune.web.pages import PageNotFound, PageRenderer, page_span, text_segments
from synthtune.web.security import BodyTooLarge, Guard, GuardMiddleware

HERE = Path(__file__).parent
CACHE_DIR = Path(".synthtune-cache") / "pages"
"""Rendered page images, inside the project folder."""
SERVED_SUFFIXES = frozenset({".html", ".json", ".jsonl", ".md", ".txt", ".png", ".csv", ".svg"})


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    k: int | None = Field(default=None, ge=1, le=20)


class ReviewBody(BaseModel):
    decision: str = Field(pattern="^(accept|reject|edit)$")
    question: str | None = Field(default=None, max_length=20000)
    answer: str | None = Field(default=None, max_length=20000)


class BulkBody(BaseModel):
    decision: str = Field(pattern="^(accept|reject)$")
    filter: dict[str, str] = Field(default_factory=dict)


class Answerer:
    """The answering model, loaded on the first question and kept for the server's life."""

    def __init__(self, project: Project, backend: Backend | None = None):
        self.project = project
        self.model = asking.answer_model(project)
        self._backend = backend
        self._lock = threading.Lock()

    def ask(self, question: str, hits: list[Any]) -> asking.AskResult:
        with self._lock:
            if self._backend is None:
                self._backend = make_backend(asking.backend_settings(self.project, self.model))
            return asking.answer(self.project, question, hits, self._backend, self.model)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def create_app(project: Project, guard: Guard | None = None, answerer: Backend | None = None) -> FastAPI:
    """The web app over ``project``. ``answerer`` is an already loaded backend, which the app closes when
    it shuts down; without one the first question loads the model."""
    guard = guard or Guard()
    model = Answerer(project, answerer)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warm_up(project)  # before the first request: loading the embedder and vectors takes seconds
        yield
        model.close()  # the loaded answering model goes with the server

    app = FastAPI(
        lifespan=lifespan,
        title="synthtune",
        summary="Ask your documents, see cited pages, review the dataset.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads scripts from a CDN; the schema is at /api/openapi.json
        redoc_url=None,
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    renderer = PageRenderer(project.store, project.dir / CACHE_DIR)
    app.state.project, app.state.guard, app.state.answerer = project, guard, model
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(GuardMiddleware, guard=guard)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(SynthtuneError)
    async def _user_error(request: Request, exc: SynthtuneError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": "request too large"}, status_code=413)

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            request, name, {"csrf": guard.csrf, "model": model.model, "screen": name, **context}
        )

    # -- screens ------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ask", status_code=303)

    @app.get("/ask", response_class=HTMLResponse, include_in_schema=False)
    async def ask_screen(
        request: Request, q: str = "", k: int | None = Query(None, ge=1, le=20)
    ) -> HTMLResponse:
        hits, scope = project.search_scoped(q, k=k) if q.strip() else ([], None)
        n_docs = project.store.kb_counts().documents
        return page(request, "ask.html", q=q, hits=hits, scope=scope.describe(n_docs) if scope else "")

    @app.get("/passages/{chunk_id}", include_in_schema=False)
    async def passage_screen(chunk_id: int) -> RedirectResponse:
        p = _passage(project, chunk_id)
        return RedirectResponse(f"/documents/{p.document_id}/pages/{p.page_start}?chunk={chunk_id}", 303)

    @app.get("/documents/{document_id}/pages/{page_no}", response_class=HTMLResponse, include_in_schema=False)
    async def page_screen(
        request: Request, document_id: int, page_no: int, chunk: int | None = None
    ) -> HTMLResponse:
        return page(request, "page.html", view=_page_view(project, renderer, document_id, page_no, chunk))

    @app.get(
        "/fragments/documents/{document_id}/pages/{page_no}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    async def page_fragment(
        request: Request, document_id: int, page_no: int, chunk: int | None = None
    ) -> HTMLResponse:
        view = _page_view(project, renderer, document_id, page_no, chunk)
        return templates.TemplateResponse(request, "_viewer.html", {"view": view})

    @app.get("/review", response_class=HTMLResponse, include_in_schema=False)
    async def review_screen(request: Request) -> HTMLResponse:
        return page(
            request, "review.html", documents=project.store.documents(), options=review.FILTER_OPTIONS
        )

    @app.get("/examples/{example_id}", include_in_schema=False)
    async def example_screen(example_id: int) -> RedirectResponse:
        project.store.example(example_id)
        return RedirectResponse(f"/review?at={example_id}", 303)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    async def runs_screen(request: Request) -> HTMLResponse:
        return page(request, "runs.html", runs=review.runs(project))

    @app.get("/files/{path:path}", include_in_schema=False)
    async def project_file(path: str) -> FileResponse:
        return FileResponse(_project_file(project.dir, path))

    # -- API ----------------------------------------------------------------------------------------

    @app.get("/api/csrf", tags=["session"])
    async def api_csrf() -> dict:
        """The CSRF token state-changing requests send in ``X-CSRF-Token`` (scripts other than the pages
        read it here; a foreign web page cannot, as this server grants no cross-origin reads)."""
        return {"csrf": guard.csrf, "header": "X-CSRF-Token"}

    @app.get("/api/search", tags=["ask"])
    async def api_search(
        q: str = Query(min_length=1, max_length=2000), k: int | None = Query(None, ge=1, le=20)
    ) -> dict:
        """Ranked passages for a query; each cites its document, pages and character span. ``scope`` says
        which company and period the query named and what search did with them."""
        hits, scope = project.search_scoped(q, k=k)
        return {"query": q, "scope": scope.to_json(), "results": [h.to_json() for h in hits]}

    @app.post("/api/ask", tags=["ask"])
    async def api_ask(body: AskBody) -> dict:
        """A retrieval-augmented answer from the tuned model (the base model when none), with citations."""
        hits = project.search(body.question, k=body.k or project.settings.eval.k)
        result = await run_in_threadpool(model.ask, body.question, hits)
        return result.to_json()

    @app.get("/api/passages/{chunk_id}", tags=["ask"])
    async def api_passage(chunk_id: int) -> dict:
        return _passage(project, chunk_id).to_json()

    @app.get("/api/documents/{document_id}/pages/{page_no}", tags=["pages"])
    async def api_page(document_id: int, page_no: int, chunk: int | None = None) -> dict:
        """A page: its image URL and the highlight boxes of ``chunk`` (PDF), or its text in segments."""
        return _page_view(project, renderer, document_id, page_no, chunk)

    @app.get("/api/documents/{document_id}/pages/{page_no}/image.png", tags=["pages"])
    async def api_page_image(document_id: int, page_no: int) -> FileResponse:
        """The page rendered with pdfium (cached in the project)."""
        path = renderer.image(renderer.document(document_id), page_no)
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/examples", tags=["review"])
    async def api_examples(request: Request) -> dict:
        """The review queue: examples matching the filters (status, document, split, kind, check,
        min_score, max_score, reviewed), with the humans' decisions applied, and the progress counter."""
        return review.queue(project.store, dict(request.query_params))

    @app.get("/api/examples/{example_id}", tags=["review"])
    async def api_example(example_id: int) -> dict:
        return review.detail(project.store, example_id)

    @app.post("/api/examples/{example_id}/review", tags=["review"])
    async def api_review(example_id: int, body: ReviewBody, request: Request) -> dict:
        """Accept, reject or edit an example (a new review row; curation never overrides it)."""
        project.store.record_review(example_id, body.decision, _reviewer(request), body.question, body.answer)
        return review.detail(project.store, example_id)

    @app.post("/api/examples/{example_id}/undo", tags=["review"])
    async def api_undo(example_id: int, request: Request) -> dict:
        """Take back the latest decision on this example still in force."""
        project.store.undo_review(example_id, _reviewer(request))
        return review.detail(project.store, example_id)

    @app.post("/api/examples/bulk", tags=["review"])
    async def api_bulk(body: BulkBody, request: Request) -> dict:
        """Accept or reject every example the filter selects."""
        return review.bulk(project.store, body.filter, body.decision, _reviewer(request))

    @app.get("/api/runs", tags=["runs"])
    async def api_runs() -> dict:
        """Each stage's latest run and the latest evaluation."""
        return review.runs(project)

    @app.get("/api/runs/events", tags=["runs"])
    async def api_run_events(
        request: Request, interval: float = Query(2.0, ge=0.2, le=60)
    ) -> StreamingResponse:
        """Server-sent events: the runs (as ``/api/runs``) whenever they change, polled every ``interval`` s,
        so the runs screen follows a stage that another process is running."""

        async def events() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                now = json.dumps(review.runs(project), default=str)
                if now != last:
                    last = now
                    yield f"event: runs\ndata: {now}\n\n"
                await asyncio.sleep(interval)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    return app


def _warm_up(project: Project) -> None:
    """Load the query embedder and the store's vectors with one search (nothing to do on an empty store)."""
    with contextlib.suppress(SynthtuneError):
        project.search("warm up", k=1)


def _reviewer(request: Request) -> str:
    return request.headers.get("x-reviewer", "")[:80] or "web"


def _passage(project: Project, chunk_id: int) -> Any:
    found = project.store.passages([chunk_id])
    if not found:
        raise PageNotFound(f"no passage {chunk_id}")
    return found[0]


def _page_view(
    project: Project, renderer: PageRenderer, document_id: int, page_no: int, chunk: int | None
) -> dict[str, Any]:
    """What a page viewer shows: the page image and boxes for a PDF, else the text in segments."""
    doc = renderer.document(document_id)
    text = renderer.page_text(document_id, page_no)
    span = (0, 0)
    if chunk is not None:
        p = _passage(project, chunk)
        if p.document_id == document_id:
            span = page_span(page_no, p.page_start, p.page_end, p.char_start, p.char_end, len(text))
    view: dict[str, Any] = {
        "document": {"id": doc.id, "title": doc.title, "media_type": doc.media_type, "n_pages": doc.n_pages},
        "page_no": page_no,
        "chunk": chunk,
        "span": list(span),
        "prev": page_no - 1 if page_no > 1 else None,
        "next": page_no + 1 if page_no < doc.n_pages else None,
    }
    if doc.media_type == "application/pdf":
        view["kind"] = "image"
        view["image_url"] = f"/api/documents/{document_id}/pages/{page_no}/image.png"
        view["boxes"] = [b.__dict__ for b in renderer.boxes(doc, page_no, span)]
    else:
        view["kind"] = "text"
    view["segments"] = [s.__dict__ for s in text_segments(text, span)]
    return view


def _project_file(root: Path, path: str) -> Path:
    """A file inside the project folder, or 404: no absolute paths, no ``..``, no links out, only the
    kinds of file a report or an export is made of (never the database)."""
    rel = Path(path)
    if not path or rel.is_absolute() or path.startswith(("/", "\\")) or ".." in rel.parts or "\\" in path:
        raise HTTPException(404)
    base = root.resolve()
    full = (base / rel).resolve()
    if not full.is_relative_to(base) or not full.is_file() or full.suffix.lower() not in SERVED_SUFFIXES:
        raise HTTPException(404)
    return full
