"""The annotation tool's web app: one static page and a small JSON API over an `Editor`.

Reads (state, frame JPEGs, mask PNGs, the event stream) are open to any tab; changes need the token of the tab that
holds the editing session (header X-Editor-Token). Expected failures answer {"error": "..."} with 400 (bad input),
409 (busy: another tab, or a propagation running) and are shown in the page.
"""
from __future__ import annotations

import asyncio
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

import anyio
import cv2
import numpy as np
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gui.editor import Busy, Editor
from gui.tab_lock import NotOwner, TabLock

STATIC = Path(__file__).parent / 'static'
NO_STORE = {'Cache-Control': 'no-store'}


class InteractRequest(BaseModel):
    frame: int
    tool: Literal['scribble', 'click', 'free']
    object_id: int
    points: list[tuple[float, float]] = Field(min_length=1)
    positive: bool = True
    brush: int = Field(15, ge=1, le=200)
    box: tuple[int, int, int, int] | None = None


class FrameRequest(BaseModel):
    frame: int


class FolderRequest(BaseModel):
    folder: str | None = None


class ClaimRequest(BaseModel):
    force: bool = False


def encode(image: np.ndarray, ext: str, *params: int) -> bytes:
    """RGB(A) uint8 image -> encoded bytes (OpenCV stores BGR)."""
    code = cv2.COLOR_RGBA2BGRA if image.shape[-1] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(image), code), list(params))
    if not ok:
        raise RuntimeError(f'OpenCV cannot encode a {ext} image')
    return data.tobytes()


def mask_rgba(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Labels [H, W] -> RGBA [H, W, 4]: object colours, transparent background (the page sets the opacity)."""
    rgba = np.zeros((*labels.shape, 4), np.uint8)
    rgba[..., :3] = palette[labels]
    rgba[..., 3] = np.where(labels > 0, 255, 0)
    return rgba


def create_app(editor: Editor, banner: str | None = None, lock: TabLock | None = None) -> FastAPI:
    """The FastAPI app serving one editor (a banner, e.g. 'untrained networks', is shown on top of the page)."""
    app = FastAPI(title='MiVOS annotation tool', docs_url=None, redoc_url=None, openapi_url=None)
    lock = lock or TabLock()
    session = editor.session

    @app.exception_handler(ValueError)
    async def bad_input(request: Request, e: ValueError) -> JSONResponse:
        return JSONResponse({'error': str(e)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = '; '.join(f'{".".join(str(x) for x in err["loc"][1:]) or "body"}: {err["msg"]}' for err in e.errors())
        return JSONResponse({'error': f'malformed request: {problems}'}, status_code=400)

    @app.exception_handler(Busy)
    @app.exception_handler(NotOwner)
    async def busy(request: Request, e: RuntimeError) -> JSONResponse:
        return JSONResponse({'error': str(e)}, status_code=409)

    @lru_cache(maxsize=256)
    def frame_jpeg(frame: int) -> bytes:
        return encode(session.frames[frame], '.jpg', cv2.IMWRITE_JPEG_QUALITY, 90)

    def state() -> dict:
        return {'num_frames': editor.num_frames, 'height': editor.height, 'width': editor.width,
                'num_objects': session.num_objects, 'colours': editor.palette[:session.num_objects + 1].tolist(),
                'interacted': editor.interacted, 'pending': editor.pending, 'revision': editor.revision,
                'propagating': editor.propagating, 'can_undo': bool(editor.history),
                'output': str(editor.output) if editor.output else '', 'banner': banner,
                'last_event': editor.events.last, 'tools': editor.tools, 'click_model': editor.click_model}

    @app.get('/')
    def index() -> FileResponse:
        return FileResponse(STATIC / 'index.html', headers=NO_STORE)

    app.mount('/static', StaticFiles(directory=STATIC), name='static')

    @app.get('/api/state')
    def get_state() -> JSONResponse:
        return JSONResponse(state(), headers=NO_STORE)

    @app.post('/api/claim')
    def claim(req: ClaimRequest) -> dict:
        return {'token': lock.claim(req.force), **state()}

    @app.get('/api/frame/{frame}.jpg')
    def frame_image(frame: int) -> Response:
        editor.check_frame(frame)
        return Response(frame_jpeg(frame), media_type='image/jpeg', headers={'Cache-Control': 'max-age=3600'})

    @app.get('/api/mask/{frame}.png')
    def mask_image(frame: int) -> Response:
        png = encode(mask_rgba(editor.labels(frame), editor.palette), '.png', cv2.IMWRITE_PNG_COMPRESSION, 1)
        return Response(png, media_type='image/png', headers=NO_STORE)

    @app.post('/api/interact')
    def interact(req: InteractRequest, x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        start, cpu = time.perf_counter(), time.process_time()  # wall time, and CPU time of the server's threads
        changed = editor.interact(req.frame, req.tool, req.object_id, req.points, req.positive, req.brush, req.box)
        return {'changed': changed, 'ms': round(1000 * (time.perf_counter() - start), 1),
                'cpu_ms': round(1000 * (time.process_time() - cpu), 1), **state()}

    @app.post('/api/reset')
    def reset(req: FrameRequest, x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        return {'changed': editor.reset_frame(req.frame), **state()}

    @app.post('/api/undo')
    def undo(x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        edit = editor.undo()
        return {'frame': edit.frame, 'tool': edit.tool, **state()}

    @app.post('/api/propagate', status_code=202)
    def propagate(x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        return {'frames': editor.start_propagation(), **state()}

    @app.post('/api/save')
    def save(req: FolderRequest, x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        folder = editor.save(req.folder)
        return {'folder': str(folder), 'masks': editor.num_frames, 'overlay': str(folder / 'overlay.mp4'), **state()}

    @app.post('/api/load')
    def load(req: FolderRequest, x_editor_token: str | None = Header(None)) -> dict:
        lock.check(x_editor_token)
        if not req.folder:
            raise ValueError('give the folder of palette PNGs to load')
        return {'loaded': editor.load(req.folder), **state()}

    @app.get('/api/events')
    async def events(request: Request, token: str | None = None, after: int | None = None) -> StreamingResponse:
        """text/event-stream of progress / done / failed events; the owner's open stream keeps its lease."""
        seq = editor.events.last if after is None else after

        async def stream():
            nonlocal seq
            yield ': connected\n\n'
            while not await request.is_disconnected():
                if token:
                    lock.touch(token)
                new = await anyio.to_thread.run_sync(editor.events.after, seq, 0.5)
                for event in new:
                    seq = event.seq
                    yield event.sse()
                if not new:
                    yield ': keep-alive\n\n'
                    await asyncio.sleep(0)

        return StreamingResponse(stream(), media_type='text/event-stream', headers=NO_STORE)

    return app
