"""The annotation tool in a real headless Chromium (Debian's, driven by Playwright): scribble, propagate, save, a click
round and a local-control round, plus the page's messages for bad input and a second tab, and a RITM click.

Screenshots go to the test's tmp folder. Timings (scribble answer, progress per frame) are printed, not asserted.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gui.app import create_app
from gui.editor import Editor
from gui.launch import synthetic_demo
from gui_server import serve
from inference.interaction.civos import CiVOSInteraction
from light_models import ritm_clicks
from util.image_io import read_labels

CHROMIUM = Path('/usr/bin/chromium')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']
T, H, W = 12, 240, 432

playwright_api = pytest.importorskip('playwright.sync_api', reason='playwright is not installed (pip install playwright)')
if not CHROMIUM.is_file():
    pytest.skip(f'no browser: {CHROMIUM} is missing (apt-get install chromium)', allow_module_level=True)


@pytest.fixture(scope='module')
def browser():
    torch.set_num_threads(2)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_tool(tmp_path: Path, frames: int, size: tuple[int, int], ritm: CiVOSInteraction | None = None):
    """A running tool on a generated clip with untrained light networks: (editor, server context)."""
    editor = Editor(synthetic_demo('cpu', num_objects=2, frames=frames, size=size).session, tmp_path / 'out', fps=8,
                    ritm=ritm)
    return editor, serve(create_app(editor, banner='browser test: untrained light networks'))


def canvas_pixels(page) -> np.ndarray:
    """The frame view as shown: RGBA [h, w, 4] read from the canvas."""
    data = page.evaluate("""() => { const c = document.getElementById('view');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")
    size = page.evaluate("() => [document.getElementById('view').height, document.getElementById('view').width]")
    return np.asarray(data, np.uint8).reshape(*size, 4)


def to_page(page, x: float, y: float) -> tuple[float, float]:
    """Image pixel (x, y) of the full frame -> page coordinates on the ink canvas."""
    box = page.locator('#ink').bounding_box()
    return box['x'] + (x + 0.5) * box['width'] / W, box['y'] + (y + 0.5) * box['height'] / H


def drag(page, points: list[tuple[float, float]], button: str = 'left') -> None:
    page.mouse.move(*to_page(page, *points[0]))
    page.mouse.down(button=button)
    for x, y in points[1:]:
        page.mouse.move(*to_page(page, x, y), steps=4)
    page.mouse.up(button=button)


def wait_answers(page, n: int) -> dict:
    page.wait_for_function(f'window.guiStats.answers.length >= {n}', timeout=60_000)
    return page.evaluate(f'window.guiStats.answers[{n - 1}]')


def shot(page, folder: Path, name: str) -> Path:
    path = folder / f'{name}.png'
    page.screenshot(path=str(path))
    print(f'screenshot: {path}')
    return path


def test_scribble_propagate_save_click_and_local_control(browser, tmp_path):
    editor, server = open_tool(tmp_path, T, (H, W))
    with server as url:
        run_main_rounds(editor, url, browser, tmp_path)


def run_main_rounds(editor: Editor, url: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={'width': 1400, 'height': 820})
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector('body[data-ready="1"]', timeout=60_000)
    assert 'untrained light networks' in page.inner_text('#banner')
    assert 'clicks through S2M' in page.inner_text('#video-info') and page.inner_text('#click-model') == '(S2M)'
    page.keyboard.press('ArrowRight')  # the original's frame stepping shortcut
    page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('1 /')")
    page.keyboard.press('ArrowLeft')
    page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('0 /')")
    time.sleep(0.3)
    before = canvas_pixels(page)
    shot(page, tmp_path, '0_start')

    # positive scribble on frame 0 -> S2M answers, the overlay shows the new labels
    drag(page, [(150, 100), (200, 120), (250, 110), (280, 140)])
    answer = wait_answers(page, 1)
    after = canvas_pixels(page)
    labels = editor.labels(0)
    assert editor.pending == [0] and labels.any()
    assert (np.abs(after.astype(int) - before.astype(int)).sum(-1) > 0).sum() >= 0.5 * (labels > 0).sum()
    shot(page, tmp_path, '1_scribble')

    # propagate: the progress bar fills, frame by frame, and the other frames get labels
    page.click('#propagate')
    page.wait_for_function('window.guiStats.progress.length >= 1', timeout=120_000)
    start = time.perf_counter()  # the page stays usable while the propagation runs: step to frame 1 and back
    page.keyboard.press('ArrowRight')
    page.wait_for_function("ui.drawn === 1", timeout=60_000)
    step_ms = 1000 * (time.perf_counter() - start)
    page.keyboard.press('ArrowLeft')
    page.wait_for_function("document.getElementById('progress-text').textContent.startsWith('done')",
                           timeout=300_000)
    assert page.evaluate("document.getElementById('progress').value") == 1
    progress = page.evaluate('window.guiStats.progress')
    assert [p['done'] for p in progress] == list(range(1, T)) and editor.interacted == [0]
    assert editor.session.labels[1:].any()
    gaps = np.diff([p['t'] for p in progress]) / 1000
    print(f'MEASURED scribble answer (S2M + overlay, in the page): {answer["ms"]:.0f} ms '
          f'(server {answer["server_ms"]:.0f} ms, {answer["server_cpu_ms"]:.0f} ms CPU); propagation: {len(progress)} progress events for {T - 1} frames, '
          f'{gaps.mean():.2f} s apart on average (max {gaps.max():.2f} s); a frame step while propagating shown in '
          f'{step_ms:.0f} ms')
    page.locator('#slider').fill('5')
    page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('5 /')")
    time.sleep(0.5)
    shown = canvas_pixels(page)
    red = (shown[..., 0].astype(int) - shown[..., 1] > 40).sum()
    assert red > 0.3 * (editor.labels(5) == 1).sum()  # object 1 (red) is drawn where the labels say
    assert page.locator('#marks .interacted').count() == 1
    shot(page, tmp_path, '2_propagated_frame5')

    # save: palette PNGs + overlay.mp4 in the folder of the page
    out = tmp_path / 'saved'
    page.fill('#folder', str(out))
    page.click('#save')
    page.wait_for_function("document.getElementById('message').textContent.startsWith('saved')", timeout=60_000)
    assert sorted(p.name for p in out.iterdir()) == [f'{i:05d}.png' for i in range(T)] + ['overlay.mp4']
    for i in range(T):
        np.testing.assert_array_equal(read_labels(out / f'{i:05d}.png'), editor.labels(i))

    # click round: object 2 by its key, a positive click
    page.click('input[name=tool][value=click]')
    page.keyboard.press('2')
    page.mouse.click(*to_page(page, 330, 60))
    click = wait_answers(page, 2)
    assert click['tool'] == 'click' and editor.pending == [5]
    shot(page, tmp_path, '3_click')

    # local control round: Ctrl + drag a box, scribble inside: only the box changes
    outside_before = editor.labels(5).copy()
    page.click('input[name=tool][value=scribble]')
    page.keyboard.down('Control')
    drag(page, [(60, 40), (260, 200)])
    page.keyboard.up('Control')
    page.wait_for_selector('#local-row:not([hidden])')
    box = page.evaluate('ui.localBox')
    assert box == [60, 40, 261, 201] or (box[0] == 60 and box[1] == 40)
    ink = page.locator('#ink').bounding_box()
    x0, y0, x1, y1 = box
    scale = ink['width'] / (x1 - x0)  # the box fills the view (zoomed in)
    page.mouse.move(ink['x'] + 40 * scale, ink['y'] + 50 * scale)
    page.mouse.down()
    page.mouse.move(ink['x'] + 120 * scale, ink['y'] + 90 * scale, steps=6)
    page.mouse.up()
    local = wait_answers(page, 3)
    shot(page, tmp_path, '4_local_control')
    outside = np.ones((H, W), bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(editor.labels(5)[outside], outside_before[outside])
    page.keyboard.press('Escape')
    page.wait_for_selector('#local-row', state='hidden')
    print(f'MEASURED click answer {click["ms"]:.0f} ms, local-control scribble answer {local["ms"]:.0f} ms')

    # bad input: an object that does not exist, a stroke leaving the frame, undo
    page.keyboard.press('7')
    assert 'there is no object 7' in page.inner_text('#message')
    drag(page, [(400, 200), (431, 230), (470, 260)])
    wait_answers(page, 4)
    assert 'clamped to the edge' in page.inner_text('#message')
    page.click('#undo')
    page.wait_for_function("document.getElementById('message').textContent.startsWith('undid')")
    shot(page, tmp_path, '5_messages')
    assert not errors, errors
    page.close()


def test_page_messages_for_bad_requests_and_a_second_tab_and_a_ritm_click(browser, tmp_path):
    editor, server = open_tool(tmp_path, 4, (64, 96), ritm_clicks(seed=0))
    with server as url:
        first = browser.new_page()
        first.goto(url)
        first.wait_for_selector('body[data-ready="1"]', timeout=60_000)
        second = browser.new_page()
        second.goto(url)
        second.wait_for_selector('body[data-ready="1"]', timeout=60_000)
        assert 'already being edited in another browser tab' in second.inner_text('#lockout')
        assert second.locator('#propagate').is_disabled()
        shot(second, tmp_path, 'second_tab')
        second.click('#take-over')
        second.wait_for_selector('#lockout', state='hidden')
        second.click('#propagate')
        second.wait_for_function("document.getElementById('message').classList.contains('error')")
        assert 'nothing to propagate' in second.inner_text('#message')
        blocker = tmp_path / 'file'
        blocker.write_text('x')
        second.fill('#folder', str(blocker / 'out'))
        second.click('#save')
        second.wait_for_function("document.getElementById('message').textContent.startsWith('cannot save')")
        shot(second, tmp_path, 'unwritable')
        first.click('#reset')  # the first tab was taken over: it says so and changes nothing
        first.wait_for_selector('#lockout:not([hidden])')
        assert 'took over editing' in first.inner_text('#lockout')
        assert editor.history == [] and not editor.session.labels.any()
        first.close()

        # a RITM click (the tool started with --ritm-model): the page says so, the click starts a round
        assert second.inner_text('#click-model') == '(RITM (NoBRS))'
        second.click('input[name=tool][value=click]')
        box = second.locator('#ink').bounding_box()
        second.mouse.click(box['x'] + 20.5 * box['width'] / 96, box['y'] + 50.5 * box['height'] / 64)
        wait_answers(second, 1)
        assert editor.rounds[0, 1].clicks == ((True, 50, 20),) and (editor.labels(0) == 1).any()
        shot(second, tmp_path, 'ritm_click')
        second.close()
