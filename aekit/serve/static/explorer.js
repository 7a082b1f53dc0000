"use strict";
// aekit explorer. Reads /explorer/models, /explorer/{name}/map, posts to /explorer/{name}/interpolate and
// /explorer/{name}/sample, and scores drawings and table rows through the KServe V2 route
// /v2/models/{name}/infer. Images are kept in the model layout (C, H, W), flattened, in raw units.

const $ = (id) => document.getElementById(id);
const THROTTLE_MS = 120;   // at most one request per this while drawing or typing
const STEPS = 9;           // interpolation points, ends included
const N_SAMPLES = 8;

const state = {models: [], model: null, map: null, picks: [], hover: -1, interp: null, timer: null,
               sent: 0, shown: 0};

// ------------------------------------------------------------------------------------------ requests
async function call(url, body) {
  const init = body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const why = data.detail || data.error || response.statusText;
    throw new Error(`${url}: ${typeof why === "string" ? why : JSON.stringify(why)}`);
  }
  return data;
}

const route = (what) => `/explorer/${encodeURIComponent(state.model.name)}/${what}`;

// One batch of samples (model layout) through operation `op`; returns output name -> flat data.
async function infer(op, rows) {
  const m = state.model;
  const out = await call(`/v2/models/${encodeURIComponent(m.name)}/infer`, {
    inputs: [{name: "input", shape: [rows.length, ...m.sample_shape], datatype: "FP32", data: rows.flatMap(toUser)}],
    parameters: {operation: op}});
  const named = {};
  for (const o of out.outputs) named[o.name] = Array.isArray(o.data) ? o.data.flat(Infinity) : o.data;
  return named;
}

// model layout (C, H, W) <-> the caller's (H, W, C) when the model was fitted on channels-last images
function toUser(x) {
  if (state.model.image_axes !== "HWC") return Array.from(x);
  const [c, h, w] = state.model.model_shape, out = new Array(x.length);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[i * c + k] = x[k * h * w + i];
  return out;
}

function fromUser(x) {
  if (state.model.image_axes !== "HWC") return x;
  const [c, h, w] = state.model.model_shape, out = new Array(x.length);
  for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[k * h * w + i] = x[i * c + k];
  return out;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// ------------------------------------------------------------------------------------------ drawing
const clamp = (v) => Math.min(1, Math.max(0, v));
// the drawing pad is read back after every stroke
const ctx2d = (canvas) => canvas.getContext("2d", {willReadFrequently: canvas.id === "pad"});

// Paint a flat model-layout image (raw units) onto `canvas`, scaled up without smoothing.
function paint(canvas, x, shape = state.model.model_shape) {
  const [lo, hi] = state.model.value_range, [c, h, w] = shape, img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = 255 * clamp((x[(c >= 3 ? k : 0) * h * w + i] - lo) / (hi - lo));
    img.data[4 * i + 3] = 255;
  }
  blit(canvas, img);
}

// Paint per-pixel squared errors (scaled units) as a black-red-yellow-white heat map.
function heat(canvas, err, h, w) {
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const t = clamp(Math.sqrt(Math.max(0, err[i])));
    img.data.set([255 * clamp(3 * t), 255 * clamp(3 * t - 1), 255 * clamp(3 * t - 2), 255], 4 * i);
  }
  blit(canvas, img);
}

function blit(canvas, img) {
  const small = document.createElement("canvas");
  small.width = img.width;
  small.height = img.height;
  ctx2d(small).putImageData(img, 0, 0);
  const ctx = ctx2d(canvas);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function blank(canvas) {
  const ctx = ctx2d(canvas);
  ctx.fillStyle = canvas.id === "map" ? "#fff" : "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function showScore(prefix, score, threshold, isAnomaly) {
  $(`${prefix}-score`).textContent = score.toPrecision(4);
  const top = threshold ? 2 * threshold : Math.max(score, 1e-12) * 1.5;
  $(`${prefix}-meter`).style.width = `${100 * clamp(score / top)}%`;
  const mark = $(`${prefix}-mark`), verdict = $(`${prefix}-verdict`);
  mark.style.display = threshold ? "block" : "none";
  mark.style.left = "50%";
  verdict.textContent = isAnomaly === null ? "" : isAnomaly ? `anomaly (threshold ${threshold.toPrecision(4)})`
    : `normal (threshold ${threshold.toPrecision(4)})`;
  verdict.className = "verdict" + (isAnomaly === null ? "" : isAnomaly ? " anomaly" : " normal");
}

// Run `fn` at most once per THROTTLE_MS while the user keeps drawing or typing, and once after the last change.
function throttle(fn) {
  if (!state.timer) state.timer = setTimeout(() => { state.timer = null; fn(); }, THROTTLE_MS);
}

// The model's operation that takes `takes` and gives every one of `outputs` (its declared operations,
// /explorer/models operation_details), or null.
function opGiving(m, takes, outputs) {
  const found = Object.entries(m.operation_details || {}).find(
    ([, d]) => d.takes === takes && !d.stateful && outputs.every((o) => d.outputs.includes(o)));
  return found ? found[0] : null;
}

// Score and reconstruct one sample (model layout); newer answers win over older ones.
async function assess(x) {
  const m = state.model, seq = ++state.sent;
  const detector = Boolean(m.scoreOp);
  const [rec, sc] = await Promise.all([infer(m.reconstructOp, [x]), detector ? infer(m.scoreOp, [x]) : null]);
  if (seq < state.shown || m !== state.model) return null;
  state.shown = seq;
  const recon = fromUser(rec.reconstruction || rec.translation);
  if (detector) return {recon, score: sc.anomaly_score[0], isAnomaly: Boolean(sc.is_anomaly[0]), errors: sc.error_map};
  // no anomaly score: the squared error in units of the value range, per value and on average
  const errors = x.map((v, i) => ((v - recon[i]) / rangeOf(i)) ** 2);
  return {recon, score: errors.reduce((a, b) => a + b, 0) / errors.length, isAnomaly: null, errors};
}

function rangeOf(i) {
  const m = state.model;
  if (m.kind === "image") return m.value_range[1] - m.value_range[0] || 1;
  const [lo, hi] = m.feature_ranges[i];
  return hi - lo || 1;
}

// ------------------------------------------------------------------------------------------ the drawing pad
const pad = {drawing: false, last: null, ink: false};

function padPoint(ev) {
  const canvas = $("pad"), r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

function stroke(from, to) {
  const canvas = $("pad"), ctx = ctx2d(canvas), h = state.model.model_shape[1];
  ctx.strokeStyle = "#fff";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = Math.max(6, 1.5 * canvas.width / h);
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
  pad.ink = true;
}

// The drawing at the model's input size: the mean of each block of pad pixels, mapped to the value range.
function padSample() {
  const canvas = $("pad"), [c, h, w] = state.model.model_shape, [lo, hi] = state.model.value_range;
  const px = ctx2d(canvas).getImageData(0, 0, canvas.width, canvas.height).data;
  const x = new Array(c * h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const y0 = Math.floor(i * canvas.height / h), y1 = Math.floor((i + 1) * canvas.height / h);
      const x0 = Math.floor(j * canvas.width / w), x1 = Math.floor((j + 1) * canvas.width / w);
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) sum += px[4 * (y * canvas.width + xx)];
      const v = lo + (hi - lo) * sum / (255 * Math.max(1, (y1 - y0) * (x1 - x0)));
      for (let k = 0; k < c; k++) x[k * h * w + i * w + j] = v;
    }
  }
  return x;
}

async function updateDrawing() {
  if (!pad.ink) return;
  const x = padSample(), [, h, w] = state.model.model_shape;
  paint($("seen"), x);
  try {
    const r = await assess(x);
    if (!r) return;
    paint($("recon"), r.recon);
    heat($("errmap"), r.errors, h, w);
    showScore("draw", r.score, state.model.threshold, r.isAnomaly);
    status("");
  } catch (e) {
    status(e.message, true);
  }
}

function setupPad() {
  const canvas = $("pad");
  canvas.addEventListener("pointerdown", (ev) => {
    pad.drawing = true;
    pad.last = padPoint(ev);
    canvas.setPointerCapture(ev.pointerId);
    stroke(pad.last, pad.last);
    throttle(updateDrawing);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!pad.drawing) return;
    const p = padPoint(ev);
    stroke(pad.last, p);
    pad.last = p;
    throttle(updateDrawing);
  });
  const end = () => { if (pad.drawing) { pad.drawing = false; throttle(updateDrawing); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", clearPad);
}

function clearPad() {
  pad.ink = false;
  for (const id of ["pad", "seen", "recon", "errmap"]) blank($(id));
  $("draw-score").textContent = "–";
  $("draw-meter").style.width = "0";
  $("draw-verdict").textContent = "";
}

// ------------------------------------------------------------------------------------------ the map
function labelColour(label) {
  if (label === null || label === undefined) return "#555";
  const hue = label < 10 ? label * 36 : (label * 137.508) % 360;   // ten evenly spaced hues first
  return `hsl(${hue}, 70%, ${label % 2 ? 38 : 52}%)`;
}

function mapXY(i) {
  const canvas = $("map"), margin = 12, size = canvas.width - 2 * margin, [x, y] = state.map.points[i];
  return [margin + x * size, margin + (1 - y) * size];
}

function drawMap() {
  const canvas = $("map"), ctx = ctx2d(canvas), map = state.map;
  blank(canvas);
  if (!map) return;
  ctx.globalAlpha = 0.75;
  map.points.forEach((_, i) => {
    ctx.fillStyle = labelColour(map.labels ? map.labels[i] : null);
    const [x, y] = mapXY(i);
    ctx.fillRect(x - 2.5, y - 2.5, 5, 5);
  });
  ctx.globalAlpha = 1;
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#1d2330";
  if (state.picks.length === 2) {
    ctx.beginPath();
    ctx.moveTo(...mapXY(state.picks[0]));
    ctx.lineTo(...mapXY(state.picks[1]));
    ctx.stroke();
  }
  for (const i of [...state.picks, state.hover].filter((i) => i >= 0)) {
    ctx.beginPath();
    ctx.arc(...mapXY(i), 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

function nearest(ev) {
  if (!state.map) return -1;
  const canvas = $("map"), r = canvas.getBoundingClientRect();
  const px = (ev.clientX - r.left) * canvas.width / r.width, py = (ev.clientY - r.top) * canvas.height / r.height;
  let best = -1, bestD = 10 * 10;   // within 10 pixels
  state.map.points.forEach((_, i) => {
    const [x, y] = mapXY(i), d = (x - px) ** 2 + (y - py) ** 2;
    if (d < bestD) { best = i; bestD = d; }
  });
  return best;
}

function labelName(i) {
  const map = state.map;
  if (!map.labels) return `example ${i}`;
  const l = map.labels[i];
  return `example ${i}, ${map.classes && map.classes[l] !== undefined ? map.classes[l] : `label ${l}`}`;
}

function legend() {
  const list = $("legend"), map = state.map;
  list.replaceChildren();
  if (!map || !map.labels) return;
  for (const l of [...new Set(map.labels)].sort((a, b) => a - b)) {
    const item = document.createElement("li"), dot = document.createElement("span");
    dot.style.background = labelColour(l);
    item.append(dot, map.classes && map.classes[l] !== undefined ? String(map.classes[l]) : String(l));
    list.append(item);
  }
}

async function loadMap() {
  const m = state.model;
  state.map = null;
  drawMap();
  legend();
  $("map-note").textContent = "computing the map…";
  try {
    const map = await call(route("map"));
    if (m !== state.model) return;
    $("map-row").hidden = !map.available;
    if (!map.available) {
      $("map-note").textContent = map.message;
      return;
    }
    state.map = map;
    const how = map.method === "code" ? "at their 2-D codes" : "by t-SNE of their codes";
    $("map-note").textContent = `${map.points.length} training examples of ${map.source}, placed ${how}. ` +
      (m.kind === "image" ? "Point at one to see it" + (m.can_decode ? "; click two to interpolate." : ".")
        : $("table-section").hidden ? "" : "Click one to load it into the form.");
    $("map").dataset.points = map.points.length;
    drawMap();
    legend();
  } catch (e) {
    $("map-note").textContent = e.message;
  }
}

function setupMap() {
  const canvas = $("map");
  canvas.addEventListener("pointermove", (ev) => {
    const i = nearest(ev);
    if (i === state.hover || i < 0) return;
    state.hover = i;
    if (state.model.kind === "image") paint($("preview"), state.map.examples[i]);
    $("preview-label").textContent = labelName(i);
    drawMap();
  });
  canvas.addEventListener("click", (ev) => {
    const i = nearest(ev);
    if (i < 0) return;
    if (!$("table-section").hidden) {
      fillForm(state.map.examples[i]);
      return;
    }
    if (state.model.kind !== "image" || !state.model.can_decode) return;
    state.picks = state.picks.length === 2 ? [i] : [...state.picks, i];
    drawMap();
    if (state.picks.length === 2) interpolate();
    else $("interp-note").textContent = `${labelName(i)} picked; click a second point.`;
  });
  $("slider").addEventListener("input", showStep);
}

// ------------------------------------------------------------------------------------------ interpolation
async function interpolate() {
  const [a, b] = state.picks;
  try {
    state.interp = await call(route("interpolate"), {a, b, steps: STEPS});
  } catch (e) {
    status(e.message, true);
    return;
  }
  $("interp-note").textContent = `from ${labelName(a)} to ${labelName(b)}, in ${STEPS} steps.`;
  const slider = $("slider");
  slider.max = STEPS - 1;
  slider.value = 0;
  slider.disabled = false;
  const strip = $("strip");
  strip.replaceChildren(...state.interp.images.map((img) => {
    const c = document.createElement("canvas");
    c.width = c.height = 56;
    c.className = "pixels";
    paint(c, img, state.interp.shape);
    return c;
  }));
  showStep();
}

function showStep() {
  if (!state.interp) return;
  const k = Number($("slider").value);
  paint($("interp"), state.interp.images[k], state.interp.shape);
  $("step").textContent = `step ${k + 1} of ${state.interp.images.length}`;
  $("interp").dataset.step = k;
  [...$("strip").children].forEach((c, i) => c.classList.toggle("current", i === k));
}

// ------------------------------------------------------------------------------------------ samples
async function resample() {
  try {
    const out = await call(route("sample"), {n: N_SAMPLES, seed: Math.floor(Math.random() * 2 ** 31)});
    $("samples").replaceChildren(...out.images.map((img) => {
      const c = document.createElement("canvas");
      c.width = c.height = 56;
      c.className = "pixels";
      paint(c, img, out.shape);
      return c;
    }));
  } catch (e) {
    status(e.message, true);
  }
}

// ------------------------------------------------------------------------------------------ the table form
function buildForm() {
  const form = $("table-form"), ranges = state.model.feature_ranges;
  form.replaceChildren();
  ranges.forEach(([lo, hi], i) => {
    const label = document.createElement("label"), input = document.createElement("input");
    const bar = document.createElement("div"), fill = document.createElement("div"), err = document.createElement("span");
    label.htmlFor = input.id = `feature-${i}`;
    label.textContent = `feature ${i}`;
    input.type = "number";
    input.step = "any";
    input.value = Number(((lo + hi) / 2).toPrecision(4));
    input.title = `training range ${lo.toPrecision(4)} … ${hi.toPrecision(4)}`;
    input.addEventListener("input", () => throttle(updateTable));
    bar.className = "bar";
    fill.id = `bar-${i}`;
    bar.append(fill);
    err.className = "err";
    err.id = `err-${i}`;
    form.append(label, input, bar, err);
  });
}

function fillForm(row) {
  row.forEach((v, i) => { $(`feature-${i}`).value = Number(v.toPrecision(6)); });
  throttle(updateTable);
}

async function updateTable() {
  const n = state.model.feature_ranges.length, x = [];
  for (let i = 0; i < n; i++) {
    const v = parseFloat($(`feature-${i}`).value);
    if (!Number.isFinite(v)) { status(`feature ${i}: enter a number`, true); return; }
    x.push(v);
  }
  try {
    const r = await assess(x);
    if (!r) return;
    const top = Math.max(...r.errors, 1e-12);   // bars relative to the largest error (units differ by detector)
    r.errors.forEach((e, i) => {
      $(`bar-${i}`).style.width = `${100 * clamp(Math.sqrt(e / top))}%`;
      $(`err-${i}`).textContent = e.toPrecision(3);
    });
    showScore("table", r.score, state.model.threshold, r.isAnomaly);
    status("");
  } catch (e) {
    status(e.message, true);
  }
}

// ------------------------------------------------------------------------------------------ models
function select(name) {
  const m = state.models.find((x) => x.name === name) || state.models[0];
  Object.assign(state, {model: m, map: null, picks: [], hover: -1, interp: null});
  $("model").value = m.name;
  history.replaceState(null, "", `?model=${encodeURIComponent(m.name)}`);
  const shape = m.sample_shape.join("×");
  $("model-info").textContent = `${m.task} · ${m.kind} ${shape} · code ${m.code_size}` +
    (m.threshold !== null ? ` · threshold ${m.threshold.toPrecision(4)}` : "");
  // what the page can show: fixed-size samples only (restorers and segmenters take images of any size)
  const fixed = Boolean(m.model_shape), image = fixed && m.kind === "image";
  // a translator (DomainTranslator) draws each drawing as its other domain in place of the reconstruction
  m.translates = !opGiving(m, "samples", ["reconstruction"]) && Boolean(opGiving(m, "samples", ["translation"]));
  m.reconstructOp = opGiving(m, "samples", [m.translates ? "translation" : "reconstruction"]);
  $("recon-caption").textContent = m.translates ? `translation (${m.reconstructOp})` : "reconstruction";
  m.scoreOp = opGiving(m, "samples", ["anomaly_score", "error_map"]);
  const scores = Boolean(m.reconstructOp);
  $("draw-section").hidden = !(image && scores);
  $("table-section").hidden = !(m.kind === "table" && scores);
  $("map-section").hidden = !fixed;
  $("interp-box").hidden = !(image && m.can_decode);
  $("preview-box").hidden = !image;
  $("sample-section").hidden = !(image && opGiving(m, "count", ["samples"]));
  status(fixed ? "" : `${m.name} takes images of any size: use its /v2/models/${m.name} routes`);
  for (const id of ["draw", "table"]) {
    $(`${id}-score-name`).textContent = m.scoreOp ? "anomaly score" : m.translates ? "change from the input"
      : "reconstruction error";
    $(`${id}-score`).textContent = "–";
  }
  $("slider").disabled = true;
  $("strip").replaceChildren();
  $("samples").replaceChildren();
  for (const id of ["interp", "preview"]) blank($(id));
  $("preview-label").textContent = "point at an example";
  if (!$("draw-section").hidden) clearPad();
  if (!$("table-section").hidden) { buildForm(); updateTable(); }
  if (!$("sample-section").hidden) resample();
  if (fixed) loadMap();
}

async function start() {
  setupPad();
  setupMap();
  $("resample").addEventListener("click", resample);
  $("model").addEventListener("change", (ev) => select(ev.target.value));
  try {
    state.models = await call("/explorer/models");
  } catch (e) {
    status(e.message, true);
    return;
  }
  if (!state.models.length) { status("no models served", true); return; }
  $("model").replaceChildren(...state.models.map((m) => new Option(m.name, m.name)));
  select(new URLSearchParams(location.search).get("model"));
}

start();
