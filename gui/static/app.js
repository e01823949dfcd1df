// MiVOS annotation tool: the page. Plain JS, no build step; talks to the JSON API in gui/app.py.
'use strict';

const $ = (id) => document.getElementById(id);
const view = $('view'), ink = $('ink');
const viewCtx = view.getContext('2d'), inkCtx = ink.getContext('2d');
const DISPLAY_WIDTH = 960;  // CSS pixels of the frame view (less if the window is narrower)

const ui = {
  state: null, token: null, frame: 0, object: 1, drawn: -1,
  stroke: null,        // {points: [[x, y]...], positive, boxDrag}
  localBox: null,      // [x0, y0, x1, y1] in image pixels while in local control
  frameImage: null, maskImage: null, loadSeq: 0, playing: null,
};
// Measurements the page shows (and the browser test reads): interaction answer times, progress arrivals.
window.guiStats = { answers: [], progress: [] };

// ---------------------------------------------------------------------------------------------------------------
// API
async function api(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (ui.token) headers['X-Editor-Token'] = ui.token;
  const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) {
    const message = data.error || (data.detail ? JSON.stringify(data.detail) : `${res.status} ${res.statusText}`);
    if (res.status === 409 && /tab/.test(message)) lockOut(message);
    throw new Error(message);
  }
  if ('revision' in data) data.shown = applyState(data);
  return data;
}

function say(text, isError = false) {
  const box = $('message');
  box.textContent = text;
  box.classList.toggle('error', isError);
}

async function run(action) {
  try { await action(); } catch (e) { say(e.message, true); }
}

// ---------------------------------------------------------------------------------------------------------------
// State and drawing
function colour(k) { const [r, g, b] = ui.state.colours[k]; return `rgb(${r},${g},${b})`; }

// Take a new server state; -> a promise that settles when the frame on screen shows it.
function applyState(s) {
  const old = ui.state;
  ui.state = s;
  if (!old) return Promise.resolve();
  drawMarks();
  updateButtons();
  return old.revision !== s.revision ? showFrame(ui.frame, true) : Promise.resolve();
}

function updateButtons() {
  const s = ui.state, editing = ui.token !== null;
  $('propagate').disabled = !editing || s.propagating;
  $('undo').disabled = !editing || s.propagating || !s.can_undo;
  for (const id of ['reset', 'save', 'load']) $(id).disabled = !editing || s.propagating;
}

function drawMarks() {
  const marks = $('marks'), n = Math.max(ui.state.num_frames - 1, 1);
  marks.replaceChildren();
  const add = (f, cls) => {
    const m = document.createElement('span');
    m.className = cls; m.style.left = `${(100 * f) / n}%`; m.title = `frame ${f}: ${cls}`;
    marks.appendChild(m);
  };
  ui.state.interacted.forEach((f) => add(f, 'interacted'));
  ui.state.pending.forEach((f) => add(f, 'pending'));
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error(`cannot load ${url}`));
    im.src = url;
  });
}

// Fetch the frame and its mask; draw when both arrived (a later request wins over a slower earlier one).
async function showFrame(f, maskOnly = false) {
  const seq = ++ui.loadSeq;
  const frameP = (maskOnly && ui.drawn === f) ? Promise.resolve(ui.frameImage) : loadImage(`/api/frame/${f}.jpg`);
  const [frame, mask] = await Promise.all([frameP, loadImage(`/api/mask/${f}.png?r=${ui.state.revision}-${seq}`)]);
  if (seq !== ui.loadSeq) return false;
  ui.frameImage = frame; ui.maskImage = mask; ui.drawn = f;
  render();
  return true;
}

// The visible image region: the whole frame, or the local-control box scaled up (as the original's local mode).
function region() {
  if (!ui.localBox) return [0, 0, ui.state.width, ui.state.height];
  const [x0, y0, x1, y1] = ui.localBox;
  return [x0, y0, x1 - x0, y1 - y0];
}

function render() {
  const [x, y, w, h] = region();
  const scale = Math.min(ui.state.width / w, ui.state.height / h);
  const cw = Math.round(w * scale), ch = Math.round(h * scale);
  if (view.width !== cw || view.height !== ch) {
    view.width = ink.width = cw; view.height = ink.height = ch;
    // shown at most DISPLAY_WIDTH wide and as high as the whole frame would be, whatever the region
    const fit = Math.min(DISPLAY_WIDTH / cw, (DISPLAY_WIDTH * ui.state.height) / ui.state.width / ch);
    view.style.width = `${Math.round(cw * fit)}px`;
  }
  viewCtx.imageSmoothingEnabled = !ui.localBox;
  viewCtx.drawImage(ui.frameImage, x, y, w, h, 0, 0, cw, ch);
  viewCtx.globalAlpha = parseFloat($('opacity').value);
  viewCtx.drawImage(ui.maskImage, x, y, w, h, 0, 0, cw, ch);
  viewCtx.globalAlpha = 1;
  drawInk();
}

function setFrame(f) {
  f = Math.max(0, Math.min(ui.state.num_frames - 1, f));
  if (ui.localBox && f !== ui.frame) leaveLocal();
  ui.frame = f;
  $('slider').value = f;
  $('frame-label').textContent = `${f} / ${ui.state.num_frames - 1}`;
  return run(() => showFrame(f));
}

function selectObject(k) {
  if (!Number.isInteger(k) || k < 1 || k > ui.state.num_objects) {
    say(`there is no object ${k}: this video has objects 1..${ui.state.num_objects} ` +
        `(start the tool with --num-objects ${k} to annotate more)`, true);
    return;
  }
  ui.object = k;
  document.querySelectorAll('#objects button').forEach((b) => b.classList.toggle('selected', +b.dataset.k === k));
}

// ---------------------------------------------------------------------------------------------------------------
// Ink: the stroke being drawn, the box being dragged, the local-control box
function toCanvas([x, y]) {
  const [rx, ry, rw] = region();
  const s = view.width / rw;
  return [(x - rx + 0.5) * s, (y - ry + 0.5) * s];
}

function drawInk() {
  inkCtx.clearRect(0, 0, ink.width, ink.height);
  const st = ui.stroke;
  if (!st) return;
  if (st.boxDrag) {
    const [a, b] = [toCanvas(st.points[0]), toCanvas(st.points[st.points.length - 1])];
    inkCtx.fillStyle = 'rgba(128,255,128,0.35)';
    inkCtx.fillRect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
    return;
  }
  const s = view.width / region()[2];
  inkCtx.strokeStyle = inkCtx.fillStyle = st.positive ? colour(ui.object) : 'rgb(60,160,255)';
  inkCtx.lineWidth = (tool() === 'free' ? +$('brush').value : 3) * s;
  inkCtx.lineCap = inkCtx.lineJoin = 'round';
  inkCtx.beginPath();
  st.points.map(toCanvas).forEach(([x, y], i) => (i ? inkCtx.lineTo(x, y) : inkCtx.moveTo(x, y)));
  if (st.points.length === 1) inkCtx.lineTo(...toCanvas(st.points[0]));
  inkCtx.stroke();
}

function tool() { return document.querySelector('input[name=tool]:checked').value; }
function positiveSelected() { return document.querySelector('input[name=polarity]:checked').value === 'positive'; }

// Pointer position -> image pixel (x, y); clamped to the visible region like the original GUI, with a flag.
function toImage(e) {
  const [rx, ry, rw, rh] = region();
  const r = ink.getBoundingClientRect();
  const x = rx + ((e.clientX - r.left) / r.width) * rw, y = ry + ((e.clientY - r.top) / r.height) * rh;
  const cx = Math.min(Math.max(x, rx), rx + rw - 0.01), cy = Math.min(Math.max(y, ry), ry + rh - 0.01);
  return { point: [cx, cy], outside: cx !== x || cy !== y };
}

ink.addEventListener('contextmenu', (e) => e.preventDefault());
ink.addEventListener('pointerdown', (e) => {
  if (!ui.state || ui.state.propagating || ui.stroke) return;
  if (!ui.token) { say('this tab is read-only: another tab holds the editing session', true); return; }
  ink.setPointerCapture(e.pointerId);
  const boxDrag = !ui.localBox && (tool() === 'box' || (e.ctrlKey && e.button === 0));
  const { point } = toImage(e);
  ui.stroke = { points: [point], positive: e.button === 2 ? false : positiveSelected(), boxDrag, outside: false };
  drawInk();
});
ink.addEventListener('pointermove', (e) => {
  if (!ui.stroke) return;
  const { point, outside } = toImage(e);
  ui.stroke.outside ||= outside;
  if (ui.stroke.boxDrag) ui.stroke.points[1] = point; else ui.stroke.points.push(point);
  drawInk();
});
ink.addEventListener('pointerup', (e) => {
  const st = ui.stroke;
  if (!st) return;
  ui.stroke = null;
  const { point, outside } = toImage(e);
  st.outside ||= outside;
  if (st.boxDrag) return enterLocal(st.points[0], point);
  if (tool() === 'box') return drawInk();  // already in local control: finish it (Esc) to draw another box
  const t = tool() === 'click' ? 'click' : tool();
  const points = t === 'click' ? [point] : st.points;
  ui.stroke = st;  // keep the ink visible until the answer is drawn
  run(async () => {
    const start = performance.now();
    try {
      const out = await api('/api/interact', {
        frame: ui.frame, tool: t, object_id: ui.object, points, positive: st.positive,
        brush: +$('brush').value, box: ui.localBox,
      });
      await out.shown;
      const ms = performance.now() - start;
      window.guiStats.answers.push({ tool: t, ms, server_ms: out.ms, server_cpu_ms: out.cpu_ms });
      say(`${t} on frame ${ui.frame}: ${out.changed} pixels changed, answered in ${ms.toFixed(0)} ms` +
          (st.outside ? '\nthe stroke left the frame: it was clamped to the edge' : ''));
    } finally {
      ui.stroke = null;
      drawInk();
    }
  });
});
ink.addEventListener('wheel', (e) => {
  if (tool() !== 'free') return;
  e.preventDefault();
  const b = $('brush');
  b.value = Math.max(1, Math.min(100, +b.value - Math.sign(e.deltaY)));
  $('brush-value').textContent = b.value;
}, { passive: false });

function enterLocal(a, b) {
  const x0 = Math.floor(Math.min(a[0], b[0])), y0 = Math.floor(Math.min(a[1], b[1]));
  const x1 = Math.ceil(Math.max(a[0], b[0])), y1 = Math.ceil(Math.max(a[1], b[1]));
  if (x1 - x0 < 16 || y1 - y0 < 16) {
    say('the local-control box is too small: drag a box at least 16 px wide and high', true);
    drawInk();
    return;
  }
  ui.localBox = [x0, y0, Math.min(x1, ui.state.width), Math.min(y1, ui.state.height)];
  $('local-row').hidden = false;
  if (tool() === 'box') document.querySelector('input[name=tool][value=scribble]').checked = true;
  say(`local control on (${ui.localBox.join(', ')}): interact inside the box; Finish local (Esc) to go back`);
  render();
}

function leaveLocal() {
  ui.localBox = null;
  $('local-row').hidden = true;
  if (ui.frameImage) render();
}

// ---------------------------------------------------------------------------------------------------------------
// Propagation progress (server-sent events)
function listen() {
  const source = new EventSource(`/api/events?token=${ui.token || ''}`);
  source.addEventListener('progress', (e) => {
    const d = JSON.parse(e.data);
    window.guiStats.progress.push({ t: performance.now(), ...d });
    $('progress').value = d.done / d.total;
    $('progress-text').textContent = `propagating from frame ${d.source}` +
      (d.steps > 1 ? ` (${d.step}/${d.steps})` : '') + `: ${d.done} / ${d.total} frames`;
    if (d.frame === ui.frame) run(() => showFrame(ui.frame, true));
  });
  source.addEventListener('done', (e) => {
    const d = JSON.parse(e.data);
    $('progress').value = 1;
    $('progress-text').textContent = `done: propagated from frame(s) ${d.frames.join(', ')} in ${d.seconds} s`;
    refreshState();
  });
  source.addEventListener('failed', (e) => {
    say(JSON.parse(e.data).message, true);
    refreshState();
  });
}

async function refreshState() {
  const res = await fetch('/api/state');
  applyState(await res.json());
}

// ---------------------------------------------------------------------------------------------------------------
// Editing session (one tab at a time)
function lockOut(message) {
  ui.token = null;
  $('lockout-text').textContent = message;
  $('lockout').hidden = false;
  if (ui.state) updateButtons();
}

async function claim(force) {
  const res = await fetch('/api/claim', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ force }),
  });
  const data = await res.json();
  if (!res.ok) { lockOut(data.error); return data; }
  ui.token = data.token;
  $('lockout').hidden = true;
  if (ui.state) updateButtons();
  return data;
}

// ---------------------------------------------------------------------------------------------------------------
// Controls
function bind() {
  $('slider').addEventListener('input', (e) => setFrame(+e.target.value));
  $('prev').onclick = () => setFrame(ui.frame - 1);
  $('next').onclick = () => setFrame(ui.frame + 1);
  $('opacity').addEventListener('input', () => ui.frameImage && render());
  $('brush').addEventListener('input', (e) => { $('brush-value').textContent = e.target.value; });
  $('play').onclick = () => {
    if (ui.playing) { clearInterval(ui.playing); ui.playing = null; $('play').textContent = 'Play'; return; }
    $('play').textContent = 'Pause';
    ui.playing = setInterval(() => setFrame(ui.frame + 1 < ui.state.num_frames ? ui.frame + 1 : 0), 1000 / 25);
  };
  $('finish-local').onclick = leaveLocal;
  $('propagate').onclick = () => run(async () => {
    $('progress').value = 0;
    const out = await api('/api/propagate');
    $('progress-text').textContent = `propagating from frame(s) ${out.frames.join(', ')}...`;
  });
  $('undo').onclick = () => run(async () => {
    const out = await api('/api/undo');
    if (out.frame !== ui.frame) await setFrame(out.frame);
    say(`undid the ${out.tool} on frame ${out.frame}`);
  });
  $('reset').onclick = () => run(async () => {
    await api('/api/reset', { frame: ui.frame });
    say(`frame ${ui.frame} reset to background (Undo brings it back; Propagate to spread it)`);
  });
  $('save').onclick = () => run(async () => {
    say('saving...');
    const out = await api('/api/save', { folder: $('folder').value });
    say(`saved ${out.masks} masks and overlay.mp4 to ${out.folder}`);
  });
  $('load').onclick = () => run(async () => {
    const out = await api('/api/load', { folder: $('folder').value });
    say(`loaded ${out.loaded} masks from ${$('folder').value}`);
  });
  $('help-button').onclick = () => $('help').showModal();
  $('help-close').onclick = () => $('help').close();
  $('take-over').onclick = () => run(async () => { if ((await claim(true)).token) { listen(); say('editing here now'); } });
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' && e.target.type === 'text') return;
    if (e.key === 'ArrowLeft') { e.preventDefault(); setFrame(ui.frame - 1); }
    else if (e.key === 'ArrowRight') { e.preventDefault(); setFrame(ui.frame + 1); }
    else if (e.key === 'Escape' && ui.localBox) leaveLocal();
    else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') { e.preventDefault(); $('undo').click(); }
    else if (/^[1-9]$/.test(e.key) && !e.ctrlKey) selectObject(+e.key);
  });
}

async function start() {
  bind();
  const data = await claim(false);
  const s = data.token ? data : await (await fetch('/api/state')).json();
  ui.state = s;
  $('slider').max = s.num_frames - 1;
  $('folder').value = s.output;
  $('video-info').textContent = `${s.num_frames} frames, ${s.width}x${s.height}, ${s.num_objects} object(s), ` +
    `clicks through ${s.click_model}`;
  $('click-model').textContent = `(${s.click_model})`;
  $('click-help').textContent = s.click_model === 'S2M'
    ? 'Clicks go through S2M, as a short scribble. Start the tool with --ritm-model to click through RITM.'
    : `Clicks go through ${s.click_model}: each click re-runs RITM on all clicks of the object on this frame, ` +
      'until another tool changes that object here, the frame is reset or you propagate. RITM clicks work on the ' +
      'whole frame, not in local control.';
  if (s.banner) { $('banner').textContent = s.banner; $('banner').hidden = false; }
  for (let k = 1; k <= s.num_objects; k++) {
    const b = document.createElement('button');
    b.textContent = k; b.dataset.k = k; b.style.background = colour(k); b.title = `object ${k} (key ${k})`;
    b.onclick = () => selectObject(k);
    $('objects').appendChild(b);
  }
  document.querySelectorAll('input[name=tool]').forEach((r) => {
    if (r.value !== 'free' && r.value !== 'box' && !s.tools.includes(r.value)) r.parentElement.hidden = true;
  });
  selectObject(1);
  drawMarks();
  updateButtons();
  if (data.token) listen();
  await setFrame(0);
  document.body.dataset.ready = '1';
}

start().catch((e) => say(e.message, true));
