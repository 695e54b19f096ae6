// What the page shows for one classification, by the server's rules: the bundle's decision rule
// (lesion.classifier.calibrated_probabilities), the headline's claim (lesion.verdict.judge), its text (lesion.answer.headline,
// with lesion.i18n's templates) and where the model looks (lesion.heatmap). The constants come from the server
// (settings.json's "rules"), never from here.

import { roundHalfEven } from "./preprocess.js";

/** softmax(logits / temperature + classBias), in double precision as NumPy computes it. */
export function calibratedProbabilities(logits, temperature, classBias) {
  const shifted = Array.from(logits, (value, i) => value / temperature + classBias[i]);
  const peak = Math.max(...shifted);
  const exps = shifted.map((value) => Math.exp(value - peak));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((value) => value / total);
}

/** lesion.verdict.judge: {kind, leading, probability, malignantShare} for probabilities keyed by code, given the
 * guard's verdict and whether the image is grey (lesion.preprocess.is_grey). */
export function judge(probabilities, dermoscopic, grey, rules) {
  const ranked = Object.keys(probabilities).sort((a, b) => probabilities[b] - probabilities[a]);
  const top = probabilities[ranked[0]];
  const malignantShare = rules.malignant.reduce((sum, code) => sum + probabilities[code], 0);
  if (!dermoscopic) return { kind: "not_dermoscopic", leading: [], probability: top, malignantShare };
  if (top >= rules.unsure_below && !grey) return { kind: "confident", leading: [ranked[0]], probability: top, malignantShare };
  const leading = ranked.slice(0, 2);
  if (probabilities[leading[0]] + probabilities[leading[1]] < rules.leading_share) leading.push(ranked[2]);
  return { kind: grey ? "grayscale" : "unsure", leading, probability: top, malignantShare };
}

/** lesion.verdict.melanoma_alarm: {raised, odds, threshold, sensitivity, specificity} under the model's rule (its
 * config's melanoma_alarm), or null without a rule or when the guard fired. */
export function melanomaAlarm(probabilities, dermoscopic, rule, tiny) {
  if (!rule || !dermoscopic) return null;
  const odds = Math.log(Math.max(probabilities.mel, tiny)) - Math.log(Math.max(probabilities.nv, tiny));
  return { raised: odds >= rule.threshold, odds, threshold: rule.threshold, sensitivity: rule.validation_sensitivity,
           specificity: rule.validation_specificity };
}

/** A number in fixed notation as Python's "f" format gives it: the exact binary value rounded half to even at
 * `places` decimals (toFixed(100) gives that value's exact digits; toFixed(places) would round halves up). */
export function pythonFixed(value, places) {
  const [whole, fraction] = Math.abs(value).toFixed(100).split(".");
  const kept = whole + fraction.slice(0, places), dropped = fraction.slice(places);
  const roundUp = dropped[0] > "5" || (dropped[0] === "5" && (/[1-9]/.test(dropped.slice(1)) || Number(kept.at(-1)) % 2 === 1));
  const text = (BigInt(kept) + (roundUp ? 1n : 0n)).toString().padStart(places + 1, "0");
  const result = places ? `${text.slice(0, -places)}.${text.slice(-places)}` : text;
  return value < 0 && /[1-9]/.test(result) ? `-${result}` : result;
}

/** Python's str.format for the templates' fields: {name}, {name:.0%} (times 100 in floating point, as CPython does,
 * then "f") and {name:.1f}. */
export function format(template, values) {
  return template.replace(/\{(\w+)(?::\.(\d+)([%f]))?\}/g, (_, name, digits, kind) => {
    const value = values[name];
    if (kind === undefined) return String(value);
    return kind === "%" ? `${pythonFixed(value * 100, Number(digits))}%` : pythonFixed(value, Number(digits));
  });
}

/** lesion.verdict.shown_probability: rounded to whole percent, unless that would reach the threshold it misses. */
export function shownProbability(probability, unsureBelow) {
  return Math.round(probability * 100) < Math.round(unsureBelow * 100) ? probability : Math.floor(probability * 100) / 100;
}

function verdictMarkdown(judged, text, rules) {
  const names = judged.leading.map((code) => text[`name_${code}`]).join(text.or);
  if (judged.kind === "unsure") {
    return format(text.headline_unsure, { names, threshold: rules.unsure_below, p1: shownProbability(judged.probability, rules.unsure_below) });
  }
  if (judged.kind === "grayscale") return format(text.headline_grayscale, { names, p1: judged.probability });
  return format(text.headline_confident, { top: names, p1: judged.probability });
}

/** lesion.answer.headline, by its rule: (1) the guard fired: that alone; (2) the melanoma alarm raised: the alarm
 * leads, and what the bars say follows in ordinary text; (3) otherwise the verdict, the malignant share, the quiet
 * alarm (null when the model has none) and, when the share is high or the image grey, the advice to see a doctor. */
export function headlineMarkdown(judged, text, rules, alarm) {
  if (judged.kind === "not_dermoscopic") return text.headline_not_dermoscopic;
  const grey = judged.kind === "grayscale";
  const share = format(text.malignant_share, { share: judged.malignantShare });
  if (alarm && alarm.raised) {
    const lead = grey ? text.headline_alarm_grey
      : format(text.headline_alarm, { sensitivity: alarm.sensitivity, false_alarms: 1 - alarm.specificity });
    const reading = verdictMarkdown(judged, text, rules).replace(/^## /, "");
    const cut = reading.indexOf("\n");
    const [title, rest] = cut < 0 ? [reading, ""] : [reading.slice(0, cut), reading.slice(cut + 1)];
    const bars = format(text.bars_reading, { reading: title }) + (rest ? ` ${rest}` : "");
    return [lead, bars, share].join("\n\n");
  }
  const parts = [verdictMarkdown(judged, text, rules), share];
  if (alarm) parts.push(grey ? text.melanoma_alarm_quiet_grey : format(text.melanoma_alarm_quiet, { missed: 1 - alarm.sensitivity }));
  if (grey || judged.malignantShare >= rules.see_a_doctor_from) parts.push(text.see_a_doctor);
  return parts.join("\n\n");
}

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** The little markdown the result templates use: "## " headings, **bold**, paragraphs. */
export function markdownHtml(markdown) {
  return markdown.split(/\n+/).filter((line) => line.trim()).map((line) => {
    const inline = escape(line).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
    return line.startsWith("## ") ? `<h2>${inline.slice(3)}</h2>` : `<p>${inline}</p>`;
  }).join("");
}

/** lesion.heatmap.class_map: one class's (rows, columns) map scaled to [0, 1]; a flat map is all zeros. */
export function classMap(classMaps, rows, columns, classes, classIndex) {
  const values = new Float64Array(rows * columns);
  for (let i = 0; i < values.length; i++) values[i] = classMaps[i * classes + classIndex];
  let low = Infinity, high = -Infinity;
  for (const value of values) { low = Math.min(low, value); high = Math.max(high, value); }
  const spread = high - low;
  return values.map((value) => (spread > 1e-9 ? (value - low) / spread : 0));
}

/** lesion.heatmap.colourise: a [0, 1] value along the anchors' dark-to-bright scale, as rounded RGB. */
export function colourise(value, anchors) {
  const position = Math.min(Math.max(value, 0), 1) * (anchors.length - 1);
  const below = Math.min(Math.floor(position), anchors.length - 2);
  const t = position - below;
  return [0, 1, 2].map((c) => roundHalfEven(anchors[below][c] + (anchors[below + 1][c] - anchors[below][c]) * t));
}

function canvas(width, height) {
  const element = document.createElement("canvas");
  element.width = width;
  element.height = height;
  return element;
}

/** lesion.heatmap.overlay, drawn with the browser's own smooth enlargement: {before, after} canvases at
 * rules.heatmap.scale times the image the model saw, the map's colour over it with opacity rules.heatmap.opacity
 * times the heat. */
export function overlay(pixels, heat, rows, columns, rules) {
  const { scale, opacity, anchors } = rules.heatmap;
  const width = pixels.width * scale, height = pixels.height * scale;
  const small = canvas(pixels.width, pixels.height);
  const smallData = new ImageData(pixels.width, pixels.height);
  for (let i = 0, j = 0; i < pixels.data.length; i += 3, j += 4) {
    smallData.data.set([pixels.data[i], pixels.data[i + 1], pixels.data[i + 2], 255], j);
  }
  small.getContext("2d").putImageData(smallData, 0, 0);
  const before = canvas(width, height);
  const beforeContext = before.getContext("2d");
  beforeContext.imageSmoothingQuality = "high";
  beforeContext.drawImage(small, 0, 0, width, height);
  const map = canvas(columns, rows);
  const mapData = new ImageData(columns, rows);
  heat.forEach((value, i) => {
    const level = Math.trunc(Math.min(Math.max(value, 0), 1) * 255);
    mapData.data.set([level, level, level, 255], i * 4);
  });
  map.getContext("2d").putImageData(mapData, 0, 0);
  const smooth = canvas(width, height).getContext("2d", { willReadFrequently: true });
  smooth.imageSmoothingQuality = "low";
  smooth.drawImage(map, 0, 0, width, height);
  const heatLevels = smooth.getImageData(0, 0, width, height).data;
  const base = beforeContext.getImageData(0, 0, width, height);
  const after = canvas(width, height);
  const blended = new ImageData(width, height);
  for (let i = 0; i < heatLevels.length; i += 4) {
    const level = heatLevels[i] / 255, alpha = opacity * level, colour = colourise(level, anchors);
    for (let c = 0; c < 3; c++) blended.data[i + c] = roundHalfEven(base.data[i + c] * (1 - alpha) + colour[c] * alpha);
    blended.data[i + 3] = 255;
  }
  after.getContext("2d").putImageData(blended, 0, 0);
  return { before, after };
}
