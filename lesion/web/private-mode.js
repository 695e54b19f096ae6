// Private mode on the page: a switch, a file input of the page's own (never Gradio's, which uploads on choosing),
// LiteRT.js and the browser variant of the model loaded once from the app's own origin and checked by sha256, and
// the server's result panel drawn here. Nothing about the photo leaves the browser: no request carries it.
//
// lesion/private_mode.py serves this module and the settings it starts with; app.py's loader calls start().

import * as pp from "./preprocess.js";
import * as show from "./result.js";

const ON_CLASS = "lesion-private-mode";
const STYLE = `
body.${ON_CLASS} .row:has(> .column #lesion-image) { display: none !important; }
#private-mode { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: 0.5rem 0.9rem;
  background: var(--block-background-fill); }
#private-mode .pm-switch { display: flex; gap: 0.6rem; align-items: center; font-weight: 600; cursor: pointer; padding: 0.3rem 0; }
#private-mode input[type=checkbox] { width: 1.1rem; height: 1.1rem; flex: none; }
#private-mode input[type=checkbox]:checked { background-color: var(--color-accent); border-color: var(--color-accent); }
#private-mode :focus-visible, #private-mode .pm-choose:focus-within { outline: 3px solid var(--color-accent); outline-offset: 2px; }
#private-mode input[type=checkbox]:disabled { opacity: 0.5; cursor: not-allowed; }
#private-mode .pm-body { display: none; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; margin-top: 0.5rem; }
body.${ON_CLASS} #private-mode .pm-body { display: grid; }
@media (max-width: 700px) { body.${ON_CLASS} #private-mode .pm-body { grid-template-columns: minmax(0, 1fr); } }
#private-mode .pm-about, #private-mode .pm-status, #private-mode .pm-ran { font-size: 0.9em; color: var(--body-text-color-subdued); }
#private-mode .pm-drop { border: 2px dashed var(--border-color-primary); border-radius: var(--radius-lg); padding: 0.75rem;
  display: flex; flex-direction: column; gap: 0.5rem; align-items: center; text-align: center; min-height: 12rem; justify-content: center; }
#private-mode .pm-drop.pm-over { border-color: var(--color-accent); }
#private-mode .pm-drop img { max-width: 100%; max-height: 300px; object-fit: contain; }
#private-mode .pm-choose { cursor: pointer; padding: 0.5rem 1rem; border-radius: var(--radius-lg); font-weight: 600;
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); }
#private-mode .pm-choose input { position: absolute; width: 1px; height: 1px; opacity: 0; }
#private-mode .pm-alert { border-left: 4px solid var(--error-border-color, #dc2626); padding: 0.5rem 0.75rem;
  background: var(--error-background-fill, #fef2f2); border-radius: var(--radius-md); }
#private-mode .pm-alert p { margin: 0.25rem 0; }
#private-mode .pm-alert button { margin-top: 0.4rem; padding: 0.3rem 0.8rem; border-radius: var(--radius-md);
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); cursor: pointer; }
#private-mode .pm-headline h2 { margin: 0.2rem 0; font-size: 1.3em; font-weight: 600; }
#private-mode .pm-headline p { margin: 0.3rem 0; }
#private-mode details { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding: 0.4rem 0.6rem; margin: 0.5rem 0; }
#private-mode details.pm-meaningless { opacity: 0.6; }
#private-mode summary { cursor: pointer; font-weight: 600; }
#private-mode .pm-bar { margin: 0.35rem 0; }
#private-mode .pm-bar-label { display: flex; justify-content: space-between; gap: 0.5rem; font-size: 0.9em; }
#private-mode .pm-bar-track { height: 0.3rem; border-radius: 0.25rem; overflow: hidden; }
#private-mode .pm-bar-fill { height: 100%; background: var(--color-accent); }
#private-mode .pm-heatmap { margin: 0.5rem 0; }
#private-mode .pm-heatmap canvas { max-width: 100%; max-height: 300px; width: auto; height: auto; display: block;
  margin: 0.4rem auto; border-radius: var(--radius-md); }
#private-mode .pm-heatmap figcaption { font-weight: 600; }
`;

/** Start private mode in `root` (the app's HTML container), with settings.json's content fetched from settingsUrl. */
export function start(root, settings, settingsUrl) {
  const language = pageLanguage(settings.languages);
  const text = settings.text[language];
  const page = new PrivateModePage(root, settings, text, (path) => new URL(path, settingsUrl).href);
  page.render();
  return page;
}

/** The page's language as Gradio's front end and lesion.i18n.request_language pick it: navigator.language's
 * primary tag when it is offered, else English. */
function pageLanguage(languages) {
  const primary = (navigator.language || "").toLowerCase().split("-")[0];
  return languages.includes(primary) ? primary : "en";
}

/** A failure the visitor reads about: `key` names its sentence in the page's text, `fields` fill the sentence's
 * {placeholders}, and `title` names the title of a refused file (lesion.i18n's refusals). */
class Failure extends Error {
  constructor(key, { fields = {}, title = null } = {}) {
    super(key);
    Object.assign(this, { key, fields, title });
  }
}

function failed(key, error) {
  return new Failure(key, { fields: { detail: error?.message || String(error) } });
}

/** The bytes at url, from the browser's cache when it has them; the browser checks them against `integrity`
 * (Subresource Integrity: "sha256-" and the base64 digest) and refuses any other bytes. */
async function fetchChecked(url, integrity) {
  const response = await fetch(url, { integrity });
  if (!response.ok) throw new Error(`${new URL(url).pathname}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

/** Emscripten's Module.instantiateWasm hook: the runtime's WebAssembly, compiled while it streams in (so that the
 * browser can keep the compiled code too) and checked against its sha256 by the browser. `failed` rejects when it
 * cannot be, since the runtime's loader would otherwise wait for it forever. */
function checkedWasm(url, integrity) {
  let reject;
  const failed = new Promise((_, fail) => { reject = fail; });
  const module = {
    // The runtime reports its start-up (INFO and WARNING lines) on stderr, which Emscripten writes as console.error:
    // those go to console.debug, so that a visitor's console shows only real errors.
    printErr: (line) => (/^(INFO|WARNING): /.test(line) ? console.debug : console.error)(line),
    instantiateWasm(imports, receive) {
      WebAssembly.instantiateStreaming(fetch(url, { integrity }), imports)
        .then(({ instance, module: compiled }) => receive(instance, compiled), reject);
      return {};
    },
  };
  return { module, failed };
}

/** LiteRT.js, loaded once per page: {litert, threads, ms}. LiteRT.js cannot be loaded twice in a page, so a failed
 * load stays failed until the page is reloaded; a model that failed to load is tried again on the next photo. */
let runtime = null;

async function loadRuntime(settings, resolve) {
  if (typeof WebAssembly !== "object") throw new Failure("private_no_wasm");
  const started = performance.now();
  try {
    const litert = await import(resolve(settings.runtime.module));
    const simd = await litert.supportsFeature("relaxedSimd");
    const threads = Boolean(globalThis.crossOriginIsolated && simd && await litert.supportsFeature("threads"));
    const variant = settings.runtime.variants[threads ? "threaded" : simd ? "simd" : "compat"];
    // The runtime's loader reads Emscripten's Module from the page: its hook hands it the checked WebAssembly.
    const wasm = checkedWasm(resolve(variant.wasm), variant.integrity);
    globalThis.Module = wasm.module;
    await Promise.race([litert.loadLiteRt(resolve(variant.script)), wasm.failed]);
    return { litert, threads, ms: performance.now() - started };
  } catch (error) {
    throw failed("private_runtime_failed", error);
  }
}

/** LiteRT.js and the model, loaded once per page. */
class OnDeviceModel {
  static async load(settings, resolve) {
    runtime ??= loadRuntime(settings, resolve);
    const { litert, threads, ms: runtimeMs } = await runtime;
    const started = performance.now();
    try {
      const bytes = await fetchChecked(resolve(settings.model.url), settings.model.integrity);
      const compiled = await litert.loadAndCompile(new Uint8Array(bytes), { accelerator: "wasm" });
      const threadCount = threads ? litert.getGlobalLiteRt().liteRtWasm.getThreadCount() : 1;
      const modelMs = performance.now() - started;
      return new OnDeviceModel(litert, compiled, settings.model, threadCount,
                               { runtime: runtimeMs, model: modelMs, total: runtimeMs + modelMs });
    } catch (error) {
      throw failed("private_model_failed", error);
    }
  }

  constructor(litert, compiled, model, threads, loadMs) {
    // loadMs: {runtime, model, total} milliseconds of the first load
    this.litert = litert;
    this.compiled = compiled;
    this.model = model;
    this.threads = threads;
    this.loadMs = loadMs;
    this.outputs = identifyOutputs(compiled.getOutputDetails(), model.labels.length);
  }

  /** lesion.classifier.Classifier.infer for one normalised input: probabilities keyed by code, the first view's
   * class maps and guard score. */
  async infer(input) {
    const { height, width } = this.model.input;
    const logits = new Float64Array(this.model.labels.length);
    let maps = null, guardScore = null;
    for (const [index, name] of this.model.test_time_views.entries()) {
      const tensor = new this.litert.Tensor(pp.view(input, name, height, width), [1, height, width, 3]);
      let outputs;
      try {
        outputs = await this.compiled.run(tensor);
      } finally {
        tensor.delete();
      }
      const arrays = outputs.map((output) => Float32Array.from(output.toTypedArray()));
      outputs.forEach((output) => output.delete());
      arrays[this.outputs.logits].forEach((value, i) => { logits[i] += value / this.model.test_time_views.length; });
      if (index === 0) {
        maps = arrays[this.outputs.maps];
        guardScore = arrays[this.outputs.guard][0];
      }
    }
    const probabilities = show.calibratedProbabilities(logits, this.model.temperature, this.model.class_bias);
    return {
      probabilities: Object.fromEntries(this.model.labels.map((code, i) => [code, probabilities[i]])),
      maps, rows: this.outputs.rows, columns: this.outputs.columns, guardScore,
      dermoscopic: this.model.guard_threshold === null || guardScore <= this.model.guard_threshold,
    };
  }
}

/** lesion.classifier._identify_outputs: the positions of the logits (1, 7), class maps (1, rows, columns, 7) and
 * guard score (1, 1) among the model's outputs, told apart by shape. */
function identifyOutputs(details, classes) {
  const shapes = details.map((detail) => Array.from(detail.shape));
  const find = (test) => shapes.findIndex(test);
  const logits = find((s) => s.length === 2 && s[1] === classes);
  const maps = find((s) => s.length === 4 && s[3] === classes);
  const guard = find((s) => s.length === 2 && s[1] === 1);
  if (shapes.length !== 3 || logits < 0 || maps < 0 || guard < 0) {
    throw new Error(`the model outputs ${JSON.stringify(shapes)}, not logits, class maps and a guard score`);
  }
  return { logits, maps, guard, rows: shapes[maps][1], columns: shapes[maps][2] };
}

/** The server's refusals that need no decoding, from the file's size and its header's width and height
 * (lesion.preprocess.load_image checks the same before decoding): a 48 kB PNG of 20000x20000 is refused at once
 * instead of being decoded, which took 15 s and 1.6 GB, and crashes a phone's tab. */
async function check(blob, rules) {
  if (blob.size === 0) throw new Failure("empty", { title: "title_empty" });
  const megabytes = blob.size / 2 ** 20;
  if (megabytes > rules.max_file_mb) {
    throw new Failure("file_too_large", { fields: { size_mb: megabytes, limit_mb: rules.max_file_mb }, title: "title_too_large" });
  }
  const size = pp.headerSize(new Uint8Array(await blob.arrayBuffer()));
  if (size === null) throw new Failure("not_image", { title: "title_not_image" });
  checkSize(size.width, size.height, rules);
}

function checkSize(width, height, rules) {
  if (width * height > rules.max_pixels) {
    throw new Failure("too_large", { fields: { width, height, megapixels: Math.floor(rules.max_pixels / 1e6) }, title: "title_too_large" });
  }
  if (Math.min(width, height) < rules.min_side) {
    throw new Failure("too_small", { fields: { width, height, min_width: rules.min_side, min_height: rules.min_side }, title: "title_too_small" });
  }
}

/** Decode a file that check() has passed as lesion.preprocess.load_image does, upright (EXIF) and transparent areas
 * over black, with the server's refusals of the decoded image. */
async function decode(blob, rules) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new Failure("not_image", { title: "title_not_image" });
  }
  const { width, height } = bitmap;
  try {
    checkSize(width, height, rules); // the header said otherwise: the decoded size decides, as on the server
  } catch (failure) {
    bitmap.close();
    throw failure;
  }
  const surface = new OffscreenCanvas(width, height);
  const context = surface.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#000";
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return pp.image(width, height, rgb);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** Scrolls `element` to the top of the window unless it is wholly in view already (a phone's result is far below
 * the example clicked). */
export function resultIntoView(element) {
  const box = element.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) {
    element.scrollIntoView({ block: "start", behavior: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
  }
}

function milliseconds(value, language) {
  const text = value.toFixed(1);
  return language === "en" ? text : text.replace(".", ",");
}

class PrivateModePage {
  constructor(root, settings, text, resolve) {
    this.root = root;
    this.settings = settings;
    this.text = text;
    this.language = pageLanguage(settings.languages);
    this.resolve = resolve;
    this.model = null;
    this.loading = null;
    this.busy = Promise.resolve();
  }

  get on() {
    return document.body.classList.contains(ON_CLASS);
  }

  render() {
    if (!document.getElementById("lesion-private-mode-style")) {
      document.head.append(element("style", { id: "lesion-private-mode-style", text: STYLE }));
    }
    const toggle = element("input", { type: "checkbox", id: "private-mode-toggle" });
    this.toggle = toggle;
    const label = element("label", { class: "pm-switch", for: "private-mode-toggle" }, toggle, element("span", { text: this.text.private_toggle }));
    this.root.replaceChildren(label);
    if (!this.settings.available) {
      toggle.disabled = true;
      this.root.append(element("p", { class: "pm-status", role: "status", text: this.text[this.settings.reason] }));
      return;
    }
    const variant = this.settings.runtime.variants;
    const megabytes = (this.settings.model.bytes + variant.simd.bytes) / 1e6;
    this.fileInput = element("input", { type: "file", accept: "image/*", id: "private-mode-file" });
    this.preview = element("img", { alt: "", hidden: "" });
    const choose = element("label", { class: "pm-choose" }, this.fileInput, element("span", { text: this.text.private_choose }));
    this.drop = element("div", { class: "pm-drop" }, this.preview, choose, element("span", { class: "pm-about", text: this.text.private_drop }));
    this.status = element("p", { class: "pm-status", role: "status", "aria-live": "polite" });
    this.alert = element("div", { class: "pm-alert", role: "alert", hidden: "" });
    this.result = element("div", { class: "pm-result", id: "private-mode-result", role: "status", "aria-live": "polite" });
    const about = element("p", { class: "pm-about", text: show.format(this.text.private_about, { megabytes: megabytes.toFixed(0) }) });
    this.root.append(element("div", { class: "pm-body" },
      element("div", { class: "pm-input" }, about, this.drop, this.status, this.alert),
      this.result));
    toggle.addEventListener("change", () => this.switchTo(toggle.checked));
    this.fileInput.addEventListener("change", () => {
      const [file] = this.fileInput.files;
      if (file) this.classify(file);
      this.fileInput.value = "";
    });
    this.drop.addEventListener("dragover", (event) => { event.preventDefault(); this.drop.classList.add("pm-over"); });
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("pm-over"));
    this.drop.addEventListener("drop", (event) => {
      event.preventDefault();
      this.drop.classList.remove("pm-over");
      const [file] = event.dataTransfer.files;
      if (file) this.classify(file);
    });
    // Examples: in private mode a click fetches the example (a download) and classifies it here, and Gradio's own
    // handler, which would classify it on the server, never sees the click.
    window.addEventListener("click", (event) => {
      const thumbnail = this.on ? event.target.closest?.("#examples button.thumbnail-item") : null;
      if (!thumbnail) return;
      event.preventDefault();
      event.stopPropagation();
      // The gallery shows thumbnails: the full example, at the same position, is what gets classified.
      const index = [...document.querySelectorAll("#examples button.thumbnail-item")].indexOf(thumbnail);
      const full = this.settings.examples?.[index];
      const source = full ? this.resolve(full) : thumbnail.querySelector("img")?.src;
      if (source) this.classify(fetch(source).then((response) => response.blob()));
    }, true);
  }

  switchTo(on) {
    document.body.classList.toggle(ON_CLASS, on);
    this.toggle.checked = on;
    if (on) this.ensureLoaded().catch(() => {});
  }

  ensureLoaded() {
    if (!this.loading) {
      this.setStatus(this.text.private_loading);
      this.loading = OnDeviceModel.load(this.settings, this.resolve).then((model) => {
        this.model = model;
        this.setStatus(this.text.private_ready);
        return model;
      }, (failure) => {
        this.loading = null; // a later attempt may succeed (a network hiccup)
        this.loadFailure = failure;
        this.setStatus("");
        this.showFailure(failure);
        throw failure;
      });
    }
    return this.loading;
  }

  setStatus(sentence) {
    this.status.textContent = sentence;
  }

  showFailure(error) {
    const failure = error instanceof Failure ? error : failed("private_failed", error);
    const children = [];
    if (failure.title) children.push(element("strong", { text: this.text[failure.title] }));
    children.push(element("p", { text: show.format(this.text[failure.key], failure.fields) }));
    if (!failure.title) {
      // The runtime or the model failed: say so, offer the server, and send nothing until the visitor chooses it.
      children.push(element("p", { text: this.text.private_nothing_sent }));
      const useServer = element("button", { type: "button", text: this.text.private_use_server });
      useServer.addEventListener("click", () => this.switchTo(false));
      children.push(useServer);
    }
    this.alert.replaceChildren(...children);
    this.alert.hidden = false;
  }

  /** Classify a File or Blob (or a promise of one) on this device and show the result. */
  classify(source) {
    this.busy = this.busy.then(() => this.classifyNow(source));
    return this.busy;
  }

  async classifyNow(source) {
    this.alert.hidden = true;
    this.result.replaceChildren();
    this.result.removeAttribute("data-result");
    try {
      const model = await this.ensureLoaded();
      const blob = await source;
      this.setStatus(this.text.private_classifying);
      const started = performance.now();
      await check(blob, this.settings.rules); // before the preview: an <img> would decode a huge image too
      this.showPreview(blob);
      const image = await decode(blob, this.settings.rules);
      const decoded = performance.now();
      const rules = this.settings.rules;
      const prepared = pp.prepare(image, model.model.input,
        { reducingGap: rules.reducing_gap, shadesOfGrayPower: rules.shades_of_gray_power });
      const preparedAt = performance.now();
      const inference = await model.infer(prepared.input);
      const finished = performance.now();
      const timings = { decode_ms: decoded - started, prepare_ms: preparedAt - decoded, inference_ms: finished - preparedAt,
                        total_ms: finished - started };
      this.showResult(prepared, inference, timings);
      this.setStatus("");
      resultIntoView(this.result);
    } catch (failure) {
      this.setStatus("");
      this.showPreview(null);
      if (failure !== this.loadFailure) this.showFailure(failure); // a failed load has said so already
    }
  }

  /** Show the photo being classified (null: none), revoking the object URL of the one before. */
  showPreview(blob) {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = blob ? URL.createObjectURL(blob) : null;
    if (this.previewUrl) this.preview.src = this.previewUrl;
    else this.preview.removeAttribute("src");
    this.preview.hidden = !blob;
  }

  showResult({ pixels, corrected }, inference, timings) {
    const { text, settings: { rules } } = this;
    const grey = pp.colourSpread(corrected) < rules.grey_below;
    const judged = show.judge(inference.probabilities, inference.dermoscopic, grey, rules);
    const alarm = show.melanomaAlarm(inference.probabilities, inference.dermoscopic, this.settings.model.melanoma_alarm, rules.tiny);
    const headline = element("div", { class: "pm-headline", id: "private-mode-verdict" });
    headline.innerHTML = show.markdownHtml(show.headlineMarkdown(judged, text, rules, alarm));
    const ranked = Object.entries(inference.probabilities).sort((a, b) => b[1] - a[1]);
    // Drawn like the server's gr.Label (app.CSS and app.THEME): the bar, then the name and the percentage.
    const bars = ranked.map(([code, p]) => element("div", { class: "pm-bar" },
      element("div", { class: "pm-bar-track" }, element("div", { class: "pm-bar-fill", style: `width: ${(p * 100).toFixed(1)}%` })),
      element("div", { class: "pm-bar-label" }, element("span", { text: text[`name_${code}`] }),
        element("span", { text: show.format("{p:.0%}", { p }) }))));
    const probabilities = element("details", { id: "private-mode-probabilities", open: "" },
      element("summary", { text: text.probabilities_label }), ...bars);
    const top = ranked[0][0];
    const ran = element("p", { class: "pm-ran", id: "private-mode-ran", text: show.format(text.private_ran, {
      total: milliseconds(timings.total_ms, this.language), decode: milliseconds(timings.decode_ms, this.language),
      prepare: milliseconds(timings.prepare_ms, this.language), inference: milliseconds(timings.inference_ms, this.language) }) });
    if (!inference.dermoscopic) {
      // lesion.answer's rule 1: the headline alone, with no bars and no heatmap.
      this.result.replaceChildren(headline, ran);
    } else {
      const heat = show.classMap(inference.maps, inference.rows, inference.columns, this.settings.model.labels.length,
        this.settings.model.labels.indexOf(top));
      // One design with the server's result: the class's map over the image the model saw, named, with a legend.
      const { after } = show.overlay(pixels, heat, inference.rows, inference.columns, rules);
      const classLabel = show.format(text.heatmap_class, { name: text[`name_${top}`] });
      after.setAttribute("role", "img");
      after.setAttribute("aria-label", classLabel);
      after.setAttribute("tabindex", "0");
      const figure = element("figure", { class: "pm-heatmap", hidden: "" },
        element("figcaption", { text: classLabel }), after, element("p", { class: "pm-legend", text: text.heatmap_legend }));
      const heatToggle = element("input", { type: "checkbox", id: "private-mode-heatmap-toggle" });
      heatToggle.addEventListener("change", () => { figure.hidden = !heatToggle.checked; });
      this.result.replaceChildren(headline, probabilities,
        element("label", { class: "pm-switch" }, heatToggle, element("span", { text: text.heatmap_toggle })), figure, ran);
    }
    this.result.dataset.result = JSON.stringify({
      probabilities: inference.probabilities, top, dermoscopic: inference.dermoscopic, grey, guard_score: inference.guardScore, melanoma_alarm: alarm,
      kind: judged.kind, timings_ms: timings, load_ms: this.model.loadMs.total, runtime_load_ms: this.model.loadMs.runtime,
      model_load_ms: this.model.loadMs.model, threads: this.model.threads,
    });
  }
}
