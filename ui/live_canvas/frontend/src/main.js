// GAN Studio's live canvas: a Streamlit component that runs a generator (ONNX) in this browser with ONNX Runtime
// Web's WebAssembly backend and redraws on every `input` event while a slider is dragged. When a drag ends (or a
// picker changes) it sends the final state to Python with setComponentValue, so the URL and the downloads stay exact.
//
// What Python sends (ui/live_canvas/__init__.py builds it): the model file's URL, the seed's base latent for every
// truncation option (Python draws them with torch, so truncation's resampling is torch's own), the slider
// directions as rows of the latent's length (principal directions, or unit vectors for raw dimensions and InfoGAN
// codes), an optional picker (a class fed to the `label` input, or a one-hot code written into the latent), and the
// control values Python holds, and how the picture is enlarged (`smoothing`: "nearest" or "bicubic"). The latent
// is latent = base + sum_i value_i * direction_i in float32, as
// ganmodels.explore.apply_offsets computes it.
//
// Streamlit's component protocol is a handful of postMessage calls; they are written here rather than pulling in
// streamlit-component-lib, which brings React and Apache Arrow for three messages.

/* global ort */

const post = (type, data = {}) => window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
const setComponentValue = (value) => post("streamlit:setComponentValue", { value, dataType: "json" });
const setFrameHeight = () => post("streamlit:setFrameHeight", { height: Math.ceil(document.documentElement.scrollHeight) });

// What tests and benchmarks read (bench/slider_latency.py, tests/test_e2e_live_canvas.py).
const live = (window.__liveCanvas = {
  ready: false, inputs: 0, draws: 0, drawsWhileDragging: 0, latencies: [], loadMs: null, firstDrawAt: null, error: null,
  fallback: null, lastOutput: null, lastLatent: null, lastLabel: null, lastDims: null, lastModel: null, sent: 0,
  smoothing: null,
});

const canvas = document.getElementById("canvas");
const statusLine = document.getElementById("status");
const controlsBox = document.getElementById("controls");
const offscreen = document.createElement("canvas");

let args = null; // the latest args from Python
let structureKey = null; // which controls are built
let adoptedStateId = null; // the Python state the controls last took over
let state = { values: [], base: 0, choice: null }; // what the controls show
let dragging = false;
let session = null;
let sessionUrl = null;
let pendingTimes = [];
let dirty = false;
let running = false;
let reported = false;
const nonce = Math.random().toString(36).slice(2);
let seq = 0;

function hasWebAssembly() {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  } catch (e) {
    return false;
  }
}

function fallBack(reason) {
  live.fallback = reason;
  statusLine.textContent = `This browser cannot draw the picture (${reason}); the server draws it instead.`;
  if (!reported) {
    reported = true;
    setComponentValue({ nonce, seq: ++seq, fallback: reason });
  }
  setFrameHeight();
}

function sendState() {
  if (!args) return;
  live.sent += 1;
  setComponentValue({ nonce, seq: ++seq, model: args.model_key, values: state.values.slice(), base_index: state.base,
                      choice: state.choice });
}

// --- controls ------------------------------------------------------------------------------------------------

function slider(id, name, min, max, step, value, shown) {
  const box = document.createElement("div");
  box.className = "control";
  const label = document.createElement("label");
  label.htmlFor = id;
  const text = document.createElement("span");
  text.textContent = name;
  const out = document.createElement("output");
  out.id = `${id}-value`;
  label.append(text, out);
  const input = document.createElement("input");
  Object.assign(input, { type: "range", id, min, max, step });
  input.value = value;
  input.setAttribute("aria-label", name);
  out.textContent = shown(Number(input.value));
  input.addEventListener("pointerdown", () => { dragging = true; });
  box.append(label, input);
  return { box, input, out, shown };
}

let built = { base: null, choice: null, sliders: [] };

function buildControls(a) {
  controlsBox.replaceChildren();
  built = { base: null, choice: null, sliders: [] };
  if (a.note) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = a.note;
    controlsBox.append(p);
  }
  if (a.choice) {
    const box = document.createElement("div");
    box.className = "control";
    const label = document.createElement("label");
    label.textContent = a.choice.label;
    label.htmlFor = "choice";
    const select = document.createElement("select");
    select.id = "choice";
    select.setAttribute("aria-label", a.choice.label);
    a.choice.names.forEach((name, i) => select.append(new Option(name, String(i))));
    select.addEventListener("change", (ev) => {
      state.choice = Number(select.value);
      requestDraw(ev.timeStamp);
      sendState();
    });
    box.append(label, select);
    controlsBox.append(box);
    built.choice = select;
  }
  if (a.base_labels && a.base_labels.length > 1) {
    const s = slider("base", a.base_title || "Truncation", 0, a.base_labels.length - 1, 1, 0, (v) => a.base_labels[v]);
    s.input.addEventListener("input", (ev) => {
      state.base = Number(s.input.value);
      s.out.textContent = s.shown(state.base);
      requestDraw(ev.timeStamp);
    });
    s.input.addEventListener("change", () => sendState());
    controlsBox.append(s.box);
    built.base = s;
  }
  a.sliders.forEach((spec, i) => {
    const s = slider(`s${i}`, spec.name, spec.min, spec.max, spec.step, 0, (v) => (v > 0 ? "+" : "") + v.toFixed(1));
    s.input.addEventListener("input", (ev) => {
      state.values[i] = Number(s.input.value);
      s.out.textContent = s.shown(state.values[i]);
      requestDraw(ev.timeStamp);
    });
    s.input.addEventListener("change", () => sendState());
    controlsBox.append(s.box);
    built.sliders.push(s);
  });
}

function showState() {
  if (built.choice && state.choice !== null) built.choice.value = String(state.choice);
  if (built.base) {
    built.base.input.value = state.base;
    built.base.out.textContent = built.base.shown(state.base);
  }
  built.sliders.forEach((s, i) => {
    s.input.value = state.values[i];
    s.out.textContent = s.shown(Number(s.input.value));
  });
}

// A drag ends wherever the pointer is released; the range input's own `change` sends the state.
for (const type of ["pointerup", "pointercancel"]) window.addEventListener(type, () => { dragging = false; }, true);

// --- drawing -----------------------------------------------------------------------------------------------

function currentInputs() {
  const a = args;
  const z = Float32Array.from(a.bases[state.base]);
  if (a.choice && a.choice.onehot_offset !== null && a.choice.onehot_offset !== undefined) {
    for (let k = 0; k < a.choice.names.length; k++) z[a.choice.onehot_offset + k] = k === state.choice ? 1 : 0;
  }
  const moved = state.values.some((v) => v !== 0);
  if (moved && a.directions_choice !== null && a.directions_choice !== undefined && a.directions_choice !== state.choice) {
    return null; // these directions belong to another class: wait for Python to send this class's
  }
  state.values.forEach((v, i) => {
    if (!v) return;
    const d = a.directions[i];
    const vf = Math.fround(v);
    for (let j = 0; j < z.length; j++) z[j] = z[j] + Math.fround(vf * d[j]);
  });
  const feeds = { latent: new ort.Tensor("float32", z, [1, z.length]) };
  if (a.takes_label) feeds.label = new ort.Tensor("int64", BigInt64Array.from([BigInt(state.choice || 0)]), [1]);
  return { feeds, latent: z, label: a.takes_label ? state.choice || 0 : null };
}

function paint(image) {
  const [, c, h, w] = image.dims;
  const data = image.data;
  offscreen.width = w;
  offscreen.height = h;
  const octx = offscreen.getContext("2d");
  const pixels = octx.createImageData(w, h);
  const plane = h * w;
  const byte = (v) => Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
  for (let p = 0; p < plane; p++) {
    const r = byte(data[p]);
    pixels.data[4 * p] = r;
    pixels.data[4 * p + 1] = c === 3 ? byte(data[plane + p]) : r;
    pixels.data[4 * p + 2] = c === 3 ? byte(data[2 * plane + p]) : r;
    pixels.data[4 * p + 3] = 255;
  }
  octx.putImageData(pixels, 0, 0);
  const scale = Math.max(1, Math.floor((args.display_size || 320) / Math.max(w, h)));
  if (canvas.width !== w * scale || canvas.height !== h * scale) {
    canvas.width = w * scale;
    canvas.height = h * scale;
    setFrameHeight();
  }
  // "nearest" keeps each model pixel a sharp square (and the CSS keeps it sharp if the page scales the canvas);
  // "bicubic" lets the browser blend neighbours at its highest quality, as the server's PIL bicubic does.
  const smooth = args.smoothing === "bicubic";
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = smooth;
  if (smooth) ctx.imageSmoothingQuality = "high";
  canvas.classList.toggle("smooth", smooth);
  live.smoothing = smooth ? "bicubic" : "nearest";
  ctx.drawImage(offscreen, 0, 0, canvas.width, canvas.height);
}

function requestDraw(time) {
  if (time !== undefined) {
    live.inputs += 1; // a control moved (input or change event): its latency is recorded when its picture is drawn
    pendingTimes.push(time);
  }
  dirty = true;
  if (!running) drawLoop();
}

async function drawLoop() {
  running = true;
  try {
    while (dirty && session && args) {
      dirty = false;
      const times = pendingTimes;
      pendingTimes = [];
      const inputs = currentInputs();
      if (!inputs) {
        statusLine.textContent = "Fetching this class's directions from the server…";
        continue;
      }
      const current = session;
      const out = await current.run(inputs.feeds);
      if (current !== session) continue;
      paint(out.image);
      const now = performance.now();
      for (const t of times) live.latencies.push(now - t);
      live.draws += 1;
      if (dragging) live.drawsWhileDragging += 1;
      live.lastOutput = Array.from(out.image.data);
      live.lastDims = out.image.dims.slice();
      live.lastLatent = Array.from(inputs.latent);
      live.lastLabel = inputs.label;
      live.lastModel = args.model_key;
      if (live.firstDrawAt === null) live.firstDrawAt = performance.timeOrigin + now;
      statusLine.textContent = args.status || "Drawn in this browser while you drag.";
    }
  } catch (e) {
    live.error = String(e && e.message ? e.message : e);
    fallBack(`the picture could not be computed here: ${live.error.slice(0, 200)}`);
  } finally {
    running = false;
  }
}

async function ensureSession(url) {
  if (url === sessionUrl) return;
  sessionUrl = url;
  session = null;
  live.ready = false;
  statusLine.textContent = "Loading the generator into this browser…";
  const started = performance.now();
  try {
    ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href; // the component's own folder, never a CDN
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a Streamlit page does not have
    const created = await ort.InferenceSession.create(new URL(url, document.baseURI).href, { executionProviders: ["wasm"] });
    if (url !== sessionUrl) return;
    session = created;
    live.loadMs = performance.now() - started;
    live.ready = true;
    requestDraw();
  } catch (e) {
    if (url !== sessionUrl) return;
    live.error = String(e && e.message ? e.message : e);
    fallBack(`the model could not be loaded here: ${live.error.slice(0, 200)}`);
  }
}

// --- Streamlit -----------------------------------------------------------------------------------------------

function onRender(a, theme) {
  if (theme) {
    document.documentElement.style.setProperty("--text", theme.textColor || "");
    document.documentElement.style.setProperty("--primary", theme.primaryColor || "");
  }
  if (!hasWebAssembly()) {
    fallBack("WebAssembly is not available in this browser");
    return;
  }
  args = a;
  const structure = JSON.stringify([a.model_key, a.note, a.sliders.map((s) => [s.name, s.min, s.max, s.step]), a.base_labels,
                                    a.choice && [a.choice.label, a.choice.names]]);
  if (structure !== structureKey) {
    structureKey = structure;
    buildControls(a);
    adoptedStateId = null;
  }
  // Python's state wins whenever it changed (reset, mode switch, new model, a link): the controls and the picture
  // then show exactly it. But the user's hand wins while a drag is under way, and while Python has not yet seen this
  // page's latest send (`ack`): a rerun for an older move must not pull the sliders back (keys pressed in a row).
  const stateId = JSON.stringify([a.model_key, a.state_tag, a.values, a.base_index, a.choice ? a.choice.value : null]);
  const caughtUp = !a.ack || a.ack.nonce !== nonce || a.ack.seq >= seq;
  if (stateId !== adoptedStateId && !dragging && caughtUp) {
    adoptedStateId = stateId;
    state = { values: a.values.slice(), base: a.base_index, choice: a.choice ? a.choice.value : null };
    showState();
  }
  ensureSession(a.model_url);
  requestDraw();
  setFrameHeight();
}

window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") onRender(event.data.args, event.data.theme);
});
new ResizeObserver(() => setFrameHeight()).observe(document.body);
post("streamlit:componentReady", { apiVersion: 1 });
