"""Skin lesion classifier: a Gradio research demo of an EfficientNet-Lite model trained on HAM10000.

    python app.py             # serves http://127.0.0.1:7860; python app.py --help lists the options

Set LESION_MODEL_REPO (and optionally LESION_MODEL_REVISION) to serve a model from the Hugging Face Hub;
without it, or when the Hub cannot provide a valid model within LESION_HUB_TIMEOUT seconds, the cached or bundled
model is served and the Hub is tried again in the background.
"""

from __future__ import annotations

import argparse
import base64
import html
import logging
import os
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.components.label import LabelData
from gradio.data_classes import ImageData
from gradio.processing_utils import hash_bytes
from gradio import route_utils
from gradio.utils import get_upload_folder, is_in_or_equal
from PIL import Image
from pydantic import model_validator
from starlette.middleware import Middleware

from lesion import answer, heatmap, i18n, page, private_mode
from lesion.answer import (BATCH_SCHEMA, CLASSIFICATION_SCHEMA, DISCLAIMER, answer_json, headline,
                           label_output, model_json, verdict_label)
from lesion.blocks import LesionBlocks, api_error, caller_language
from lesion.bundle import InvalidBundleError
from lesion.classifier import Prediction
from lesion.headers import FRAME_ANCESTORS_ENV, SecurityHeaders
from lesion.hub import REPO_ENV, REVISION_ENV, TIMEOUT_ENV, ModelServer, ModelSource
from lesion.labels import CODES, read_labelled_folder
from lesion.limits import MAX_FILE_MB, MAX_PIXELS, TRUST_FORWARDED_ENV, BodyLimit, FairQueue, pixel_refusal
from lesion.memory import limit_heap_growth
from lesion.retention import DEFAULT_KEEP_S, KEEP_ENV
from lesion.preprocess import InvalidImageError
from lesion.thumbnails import EXAMPLES_DIR, thumbnail_path
from lesion.timing import STEPS, LatencyStats, Timings

log = logging.getLogger("app")

MAX_IMAGE_MB = MAX_FILE_MB
"""Dermoscopy photos are 0.2-10 MB. Larger uploads are turned away by Gradio (UPLOAD_LIMIT) and gradio_client before
they are sent; a larger data: URL gets the app's sentence (admission_refusal)."""
UPLOAD_LIMIT = f"{MAX_FILE_MB}mb"
"""Gradio itself turns away uploads above this before they are stored; lesion.limits.BodyLimit any request over 28 MB."""
CONCURRENCY = 4
"""Requests in flight at once: decoding and resizing run in parallel; the interpreter itself takes one at a time."""
QUEUE_SIZE = 64
"""Further requests are turned away with "queue full" instead of waiting minutes."""
MAX_BATCH = 16
"""/classify_batch classifies up to this many waiting requests together."""
DEFAULT_PORT = 7860
I18N = gr.I18n(**i18n.GRADIO_PAGE)
"""The page's static text in English, Indonesian and Spanish; the browser's language picks one."""


class LesionImageData(ImageData):
    """Gradio's ImageData, taking a bare value too (a caller who skipped handle_file) as a path, which
    LesionImage.preprocess then refuses in one clear sentence instead of a validation error."""

    @model_validator(mode="before")
    @classmethod
    def bare_value_as_path(cls, value):
        return value if isinstance(value, (dict, ImageData)) else {"path": str(value)}


class LesionImage(gr.Image):
    """The Image input, minus Gradio's own decoding: the uploaded file goes to lesion.preprocess untouched,
    so every bad file (empty, corrupt, not an image) gets the project's own clear message."""

    is_template = True  # rendered by Gradio's Image front end
    data_model = LesionImageData

    def preprocess(self, payload) -> str | InvalidImageError | None:
        """The file's path; a data: URL's bytes as they were sent, in a file of their own; or the refusal of a path
        outside Gradio's upload folder (an API caller naming a file on the server) or of a URL Gradio could not
        download, which run() raises and a batch answers for that image alone. What Gradio itself refuses before this
        (a URL it may not fetch, a path it does not allow) lesion.blocks.LesionBlocks answers in the app's words."""
        if payload is None:
            return None
        if (payload.url or "").startswith("data:"):
            return data_url_file(payload.url)
        if payload.path and not is_in_or_equal(payload.path, get_upload_folder()):
            log.warning("Refused a path outside the upload folder: %r", payload.path)
            return InvalidImageError(i18n.message("not_uploaded", "en"))
        if not payload.path and payload.url:  # Gradio could not download it (and logged why)
            return InvalidImageError(i18n.message("not_downloaded", "en", url=payload.url[:200]))
        return payload.path

    def example_payload(self) -> dict:
        """What "Use via API" shows as the input: a local file, not Gradio's picture of a bus."""
        return {"path": "lesion.jpg", "url": "lesion.jpg", "orig_name": "lesion.jpg", "meta": {"_type": "gradio.FileData"}}

    def api_info_as_input(self) -> dict:
        return {**super().api_info_as_input(),
                "additional_description": f"A dermoscopic photo of one skin lesion, JPEG or PNG, at most {MAX_IMAGE_MB} MB."}


def data_url_file(url: str) -> str:
    """A data: URL's bytes, byte for byte (no re-encoding: EXIF and JPEG stay as sent), in a new file in the upload
    folder. Undecodable base64 is kept as it came, and lesion.preprocess then refuses it as it refuses any bad file."""
    header, _, body = url.partition(",")
    try:
        data = base64.b64decode(body, validate=True) if header.endswith(";base64") else urllib.parse.unquote_to_bytes(body)
    except ValueError:
        data = body.encode()
    return cached_file(data, "image")


class ProbabilitiesOutput(gr.Label):
    """/predict's output, described for "Use via API" and agents. Its label is the headline's claim, not the argmax:
    "Unsure: ...", "Grayscale image, unreliable: ..." or "Not a dermoscopic image ..." where the page says so."""

    is_template = True

    def postprocess(self, value):
        """(label, {display name: probability}) -> the label as given, with every class's confidence."""
        if not isinstance(value, tuple):
            return super().postprocess(value)
        label, probabilities = value
        return LabelData(label=label, confidences=super().postprocess(probabilities).confidences if probabilities else [])

    def api_info_as_output(self) -> dict:
        return {**super().api_info_as_output(), "description": answer.PROBABILITIES_DESCRIPTION}


class HeatmapOutput(gr.Image):
    """/classify's second output, described for "Use via API" and agents."""

    is_template = True

    def api_info_as_output(self) -> dict:
        return {**super().api_info_as_output(), "description": answer.HEATMAP_DESCRIPTION}


class ClassificationOutput(gr.JSON):
    """/classify's output: plain JSON with a schema for "Use via API" and agents."""

    is_template = True

    def api_info(self) -> dict:
        return CLASSIFICATION_SCHEMA


class BatchClassificationOutput(gr.JSON):
    """/classify_batch's output: plain JSON with a schema for "Use via API" and agents."""

    is_template = True

    def api_info(self) -> dict:
        return BATCH_SCHEMA


def load_examples(folder: Path = EXAMPLES_DIR) -> list[tuple[str, str]]:
    """(image path, true diagnosis code) for each example."""
    return [(str(path), dx) for path, dx in read_labelled_folder(folder)]


def gallery_items(examples: list[tuple[str, str]], language: str) -> list[tuple[str, str]]:
    """The examples' thumbnails (lesion.thumbnails) captioned with their true diagnosis; a click classifies the full
    image. The caption is the thumbnail's alt text too."""
    return [(str(thumbnail_path(path)), i18n.diagnosis_name(dx, language)) for path, dx in examples]


def admission_refusal(image: str | InvalidImageError | None) -> InvalidImageError | None:
    """Why an input is refused before decoding (no image, refused by LesionImage, over MAX_IMAGE_MB), or None."""
    if image is None:
        return InvalidImageError(i18n.message("no_image", "en"))
    if isinstance(image, InvalidImageError):
        return image
    size_mb = os.path.getsize(image) / 2**20 if os.path.isfile(image) else 0
    if size_mb > MAX_IMAGE_MB:
        return InvalidImageError(i18n.message("file_too_large", "en", size_mb=size_mb, limit_mb=MAX_IMAGE_MB))
    return pixel_refusal(image)


def heatmap_png(prediction: Prediction) -> str:
    """The PNG file of the image the model saw with the top class's activation map over it (/classify's output)."""
    return cached_png(heatmap.overlay(prediction.pixels, heatmap.class_map(prediction.class_maps, CODES.index(prediction.top))))


def cached_png(image: Image.Image) -> str:
    """image as a PNG in Gradio's cache (cached_file)."""
    return cached_file(heatmap.png_bytes(image), "image.png")


def cached_file(data: bytes, name: str) -> str:
    """data as a file in Gradio's cache, where Gradio would put it, but written under a temporary name and renamed
    into place. Gradio's own save_pil_to_cache rewrites a file shared by identical pictures in place, so a visitor
    could be sent a truncated heatmap while another's identical one was written (seen under load: tests/e2e/test_load.py)."""
    folder = Path(get_upload_folder()) / hash_bytes(data)
    path = folder / name
    try:
        os.utime(path)  # an identical file, kept: new again, so that lesion.retention keeps it for this caller too
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(descriptor, "wb") as staged:
            staged.write(data)
        os.replace(staging, path)
    return str(path)


def notes_markdown(notes: list[str], language: str = i18n.DEFAULT) -> str:
    return "\n".join(f"- {i18n.note(note, language)}" for note in notes)


def refusal_html(title: str, sentence: str) -> str:
    """What a refused file shows next to the input until the next upload."""
    return f'<div role="alert"><strong>{html.escape(title)}</strong><p>{html.escape(sentence)}</p></div>'


def timing_markdown(timings: Timings | None, stats: dict, source: ModelSource, language: str = i18n.DEFAULT) -> str:
    """The timing panel: this image's milliseconds beside the running statistics since startup, by step, and the model."""
    count = stats["total_ms"]["count"]
    lines = [i18n.message("count", language, count=count), ""]
    rows = [("this_image", [getattr(timings, step) for step in STEPS])] if timings is not None else []
    if count:
        rows += [(key, [stats[step][key] for step in STEPS]) for key in ("mean", "p50", "p95", "min", "max")]
    if rows:
        lines += ["| ms | " + " | ".join(i18n.message(step, language) for step in STEPS) + " |",
                  "|---|" + "---:|" * len(STEPS)]
        lines += [f"| {i18n.message(key, language)} | " + " | ".join(_ms(value, language) for value in values) + " |"
                  for key, values in rows]
        lines.append("")
    bundle = source.bundle
    model = f"{bundle.name} {bundle.version} ({bundle.config['quantization']}, {bundle.size_mb:.1f} MB)"
    revision = i18n.message("revision", language, revision=source.revision[:12]) if source.revision else ""
    lines.append(i18n.message("model_line", language, model=model, origin=i18n.message(f"origin_{source.origin}", language),
                              revision=revision, reason=i18n.model_reason(source.reason, language)))
    return "\n".join(lines)


def timing_line(timings: Timings | None, stats: dict, language: str = i18n.DEFAULT) -> str:
    """The timing panel's one line, its title: this image's total time and the running median since startup."""
    total = stats["total_ms"]
    if not total["count"]:
        return i18n.message("timing_accordion_empty", language)
    values = {"median": _ms(total["p50"], language), "count": total["count"]}
    if timings is None:
        return i18n.message("timing_line_none", language, **values)
    return i18n.message("timing_line", language, this=_ms(timings.total_ms, language), **values)


def _ms(value: float, language: str) -> str:
    text = f"{value:.1f}"
    return text if language == i18n.DEFAULT else text.replace(".", ",")


@dataclass(frozen=True)
class ResultPanel:
    """The result column: everything one classification shows. New result views join it here."""

    headline: gr.Markdown
    truth: gr.Markdown
    """An example's true diagnosis, beside the verdict; empty after an upload."""
    probabilities_box: gr.Accordion
    probabilities: gr.Label
    heatmap_toggle: gr.Checkbox
    heatmap_box: gr.Column
    """The heatmap and its legend, shown while the toggle is on."""
    heatmap: gr.Image
    timing_box: gr.Accordion
    timing: gr.Markdown

    @property
    def outputs(self) -> list:
        return [self.headline, self.truth, self.probabilities_box, self.probabilities, self.heatmap_toggle, self.heatmap_box, self.heatmap,
                self.timing_box, self.timing]


def result_panel(initial_timing: str) -> ResultPanel:
    """The result column's components, created in the current layout."""
    headline_text = gr.Markdown(I18N("result_placeholder"), elem_id="verdict")
    truth = gr.Markdown(elem_id="example-truth")
    with gr.Accordion(I18N("probabilities_label"), open=True, visible=False, elem_id="probabilities-box") as probabilities_box:
        probabilities = gr.Label(show_label=False, show_heading=False, num_top_classes=len(CODES), elem_id="probabilities")
    heatmap_toggle = gr.Checkbox(label=I18N("heatmap_toggle"), value=False, visible=False, elem_id="heatmap-toggle")
    with gr.Column(visible=False, elem_id="heatmap-box") as heatmap_box:
        heatmap_view = gr.Image(label=I18N("heatmap_label"), type="filepath", format="png", interactive=False,
                                elem_id="heatmap", height=300, buttons=[])
        gr.Markdown(I18N("heatmap_legend"), elem_id="heatmap-legend")
    with gr.Accordion(I18N("timing_accordion"), open=False, elem_id="timing-box") as timing_box:
        timing = gr.Markdown(initial_timing, elem_id="timing-panel")
    return ResultPanel(headline_text, truth, probabilities_box, probabilities, heatmap_toggle, heatmap_box, heatmap_view, timing_box, timing)


def result_values(prediction: Prediction | None, timing: tuple[str, str], language: str, show_heatmap: bool = False) -> tuple:
    """Values for ResultPanel.outputs: one prediction's result beside the timing panel, or an empty panel.

    When the guard fires (lesion.answer's rule 1) the headline alone is shown: no bars, no heatmap. The heatmap is
    made with every other result (it needs no second inference) and shown while the visitor's toggle is on.
    """
    timing_values = (gr.update(label=timing[0]), timing[1])
    if prediction is None:
        return (i18n.message("result_placeholder", language), "", gr.update(visible=False), None, gr.update(visible=False),
                gr.update(visible=False),
                gr.update(value=None), *timing_values)
    if not prediction.dermoscopic:
        return (headline(prediction, language), "", gr.update(visible=False), None, gr.update(visible=False),
                gr.update(visible=False), gr.update(value=None), *timing_values)
    return (headline(prediction, language), "", gr.update(visible=True), label_output(prediction, language),
            gr.update(visible=True), gr.update(visible=show_heatmap),
            gr.update(value=heatmap_png(prediction),
                      label=i18n.message("heatmap_class", language, name=i18n.diagnosis_name(prediction.top, language))),
            *timing_values)


def page_address(request: gr.Request) -> str:
    """The page's public address, with a trailing slash, as Gradio itself works it out (x-forwarded-host on a Space)."""
    raw = request.request
    return route_utils.get_root_url(raw, raw.url.path, raw.scope.get("root_path") or None) + "/"


def request_language(request: gr.Request | None) -> str:
    return i18n.request_language(request.headers.get("accept-language") if request else None)


def build_demo(models: ModelServer | None = None) -> gr.Blocks:
    """The whole app. Starts serving a model (from the Hub, its cache or the bundle) unless a ModelServer is given."""
    models = models or ModelServer.start()
    stats = LatencyStats()
    examples = load_examples()

    def run(image_path: str | InvalidImageError | None) -> tuple[Prediction, ModelSource]:
        """Classify with the model serving now; a model swapped in meanwhile serves the next request."""
        refusal = admission_refusal(image_path)
        if refusal is not None:
            raise refusal
        source = models.current
        prediction = source.classifier.classify(image_path)
        stats.add(prediction.timings)
        return prediction, source

    def run_for_api(image_path: str | InvalidImageError | None) -> tuple[Prediction, ModelSource]:
        try:
            return run(image_path)
        except InvalidImageError as error:
            log.warning("Refused an image sent to the API: %r", str(error))
            raise api_error(error, caller_language()) from None

    def predict(image: str | None) -> tuple[str, dict[str, float]]:
        prediction = run_for_api(image)[0]
        return verdict_label(prediction), label_output(prediction)

    predict.__doc__ = answer.docstring(answer.PREDICT_DESCRIPTION, answer.PREDICT_RETURNS)

    def classify(image: str | None) -> dict:
        prediction, source = run_for_api(image)
        return {
            **answer_json(prediction),
            "dermoscopic_score": prediction.guard_score,
            "dermoscopic_score_meaning": (f"{source.bundle.config['guard']['score']}; this model's threshold is "
                                          f"{source.classifier.guard_threshold:.2f}"),
            "model": model_json(source),
            "statistics_since_startup": stats.snapshot(),
            "disclaimer": DISCLAIMER,
        }, heatmap_png(prediction) if prediction.dermoscopic else None

    classify.__doc__ = answer.docstring(answer.CLASSIFY_DESCRIPTION, answer.CLASSIFY_RETURNS)

    def classify_batch(image: list[str | None]) -> list[list[dict]]:
        # Named like /classify's input for callers and agents; with batch=True it holds each waiting request's image.
        images = image
        source = models.current
        refusals = [admission_refusal(path) for path in images]
        results = iter(source.classifier.classify_batch([path for path, refusal in zip(images, refusals) if refusal is None]))
        answers = []
        for index, refusal in enumerate(refusals):
            result = refusal or next(results)
            if isinstance(result, InvalidImageError):
                log.warning("Refused an image in a batch: %r", str(result))
                answers.append({"error": i18n.refusal(str(result), caller_language(index))[1]})
                continue
            stats.add(result.timings)
            answers.append({**answer_json(result), "model": model_json(source), "disclaimer": DISCLAIMER})
        return [answers]

    classify_batch.__doc__ = answer.docstring(answer.BATCH_DESCRIPTION, answer.BATCH_RETURNS)

    def timing_now(timings: Timings | None, language: str, source: ModelSource | None = None) -> tuple[str, str]:
        """The timing panel's line and table, naming the model that answered (or, with no answer, the one serving now)."""
        snapshot = stats.snapshot()
        return (timing_line(timings, snapshot, language),
                timing_markdown(timings, snapshot, source or models.current, language))

    def page_values(prediction: Prediction | None, language: str, refusal: tuple[str, str] | None = None,
                    source: ModelSource | None = None, show_heatmap: bool = False) -> tuple:
        """Values of the page's outputs: the refusal (title, sentence) if any, notes, result panel, this image's timings."""
        timings = prediction.timings if prediction else None
        return (gr.update(value=refusal_html(*refusal) if refusal else "", visible=refusal is not None),
                notes_markdown(prediction.notes, language) if prediction else "",
                *result_values(prediction, timing_now(timings, language, source), language, show_heatmap))

    def classify_for_page(image: str, language: str, show_heatmap: bool) -> tuple[bool, tuple]:
        """(refused, page values) for one image."""
        try:
            prediction, source = run(image)
        except InvalidImageError as error:
            log.warning("Refused an upload: %r", str(error))
            return True, page_values(None, language, i18n.refusal(str(error), language))
        return False, page_values(prediction, language, source=source, show_heatmap=show_heatmap)

    def on_upload(image: str | None, show_heatmap: bool, request: gr.Request):
        """A visitor's upload, photo, paste or clearing: the result, or the refusal with no broken image left behind."""
        language = request_language(request)
        if image is None:
            return gr.skip(), *page_values(None, language)
        refused, values = classify_for_page(image, language, show_heatmap)
        return (None if refused else gr.skip()), *values

    def on_example(show_heatmap: bool, selection: gr.SelectData, request: gr.Request):
        """An example's result, with its true diagnosis beside the verdict so that a miss shows."""
        path, dx = examples[selection.index]
        language = request_language(request)
        values = list(classify_for_page(path, language, show_heatmap)[1])
        values[page_outputs.index(results.truth)] = i18n.message("true_label", language, name=i18n.diagnosis_name(dx, language))
        return path, *values

    def on_load(request: gr.Request):
        """The running statistics, the example captions in the visitor's language, and the API snippets with the
        page's own address (behind a proxy such as a Space's, the address the visitor used)."""
        language = request_language(request)
        captions = gr.skip() if language == i18n.DEFAULT else gallery_items(examples, language)
        line, table = timing_now(None, language)
        address = page_address(request) if request is not None else f"http://127.0.0.1:{DEFAULT_PORT}/"
        return gr.update(label=line), table, captions, answer.api_snippets(address)

    with LesionBlocks(title="Skin lesion classifier (research demo)") as demo:
        gr.Markdown(I18N("intro"))
        gr.Markdown(I18N("disclaimer"), elem_classes=["disclaimer"])
        # Private mode (issue 14): a switch and a panel of its own that classify in the visitor's browser; the routes
        # of lesion.private_mode serve its code, LiteRT.js and the browser model (see launch).
        gr.HTML(elem_id="private-mode", js_on_load=private_mode.LOADER, apply_default_css=False)
        demo.private_mode = private_mode.PrivateMode(lambda: models.current.bundle, max_file_mb=MAX_IMAGE_MB,
                                                     max_pixels=MAX_PIXELS, examples=tuple(path for path, _ in examples))
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                lesion_image = LesionImage(label=I18N("image_label"), type="filepath", image_mode=None,
                                           sources=["upload", "clipboard"], height=340, elem_id="lesion-image")
                refusal = gr.HTML(visible=False, elem_id="refusal")
                conversion_notes = gr.Markdown(elem_id="conversion-notes")
            with gr.Column(min_width=300, elem_id="result-column"):
                results = result_panel(timing_now(None, i18n.DEFAULT)[1])
        gr.Markdown(I18N("examples_heading"))
        example_gallery = gr.Gallery(
            value=gallery_items(examples, i18n.DEFAULT), label="Examples", show_label=False, columns=7,
            allow_preview=False, object_fit="cover", interactive=False, buttons=[], elem_id="examples",
        )
        with gr.Accordion(I18N("diagnoses_accordion"), open=False):
            gr.Markdown(I18N("about"))
        with gr.Accordion(I18N("api_accordion"), open=False):
            gr.Markdown(I18N("api_intro"))
            api_help = gr.Markdown(answer.api_snippets(f"http://127.0.0.1:{DEFAULT_PORT}/"), elem_id="api-help")
        api_image = LesionImage(label="dermoscopic image", type="filepath", image_mode=None, visible=False)
        api_probabilities = ProbabilitiesOutput(label="probabilities of the seven diagnoses", visible=False)
        api_classification = ClassificationOutput(label="classification as JSON", visible=False)
        api_heatmap = HeatmapOutput(label="where the model looks, as PNG", type="filepath", format="png", visible=False)
        api_batch_classification = BatchClassificationOutput(label="classification in a batch, as JSON", visible=False)

        page_outputs = [refusal, conversion_notes, *results.outputs]
        page_events = {"api_visibility": "private", "concurrency_limit": CONCURRENCY, "concurrency_id": "classify",
                           "show_progress_on": results.probabilities}
        page_inputs = [lesion_image, results.heatmap_toggle]
        for event in (lesion_image.input(on_upload, page_inputs, [lesion_image, *page_outputs], **page_events),
                      example_gallery.select(on_example, results.heatmap_toggle, [lesion_image, *page_outputs], **page_events)):
            event.then(None, js=page.RESULT_INTO_VIEW, queue=False, show_progress="hidden")
        results.heatmap_toggle.input(lambda show: gr.update(visible=show), results.heatmap_toggle, results.heatmap_box,
                                     api_visibility="private", queue=False, show_progress="hidden")
        demo.load(None, js=page.ON_LOAD)
        demo.load(on_load, None, [results.timing_box, results.timing, example_gallery, api_help], api_visibility="private", queue=False,
                  show_progress="hidden")
        gr.on([], predict, inputs=api_image, outputs=api_probabilities, api_name="predict",
              concurrency_limit=CONCURRENCY, concurrency_id="classify")
        gr.on([], classify, inputs=api_image, outputs=[api_classification, api_heatmap], api_name="classify",
              concurrency_limit=CONCURRENCY, concurrency_id="classify")
        gr.on([], classify_batch, inputs=api_image, outputs=api_batch_classification, api_name="classify_batch",
              batch=True, max_batch_size=MAX_BATCH, concurrency_limit=1, concurrency_id="classify_batch")
    demo.queue(max_size=QUEUE_SIZE)
    FairQueue.install(demo)
    return demo


CSS = """
.gradio-container :focus-visible { outline: 3px solid var(--color-accent) !important; outline-offset: 2px; }
#heatmap-legend { font-size: 0.9em; }
#probabilities .text, #probabilities .confidence { font-family: var(--font); }
#result-column, #refusal { scroll-margin-top: 12px; }
.disclaimer { border-left: 4px solid var(--color-accent); padding: 0.25rem 0.75rem; background: var(--block-background-fill); }
#refusal [role=alert] { border-left: 4px solid var(--error-border-color, #dc2626); padding: 0.5rem 0.75rem;
  background: var(--error-background-fill, #fef2f2); color: var(--error-text-color, inherit); border-radius: var(--radius-md); }
#refusal [role=alert] p { margin: 0.25rem 0 0; }
#timing-panel table { font-variant-numeric: tabular-nums; display: block; overflow-x: auto; width: fit-content; max-width: 100%; }
#timing-panel th, #timing-panel td { white-space: nowrap; padding: 4px 8px; }
#examples .grid-wrap { max-height: none; min-height: 0; height: auto; overflow: visible; }
#examples .grid-container { grid-template-columns: repeat(7, minmax(0, 1fr)); grid-template-rows: none; grid-auto-rows: auto; }
#examples .thumbnail-lg { display: flex; flex-direction: column; aspect-ratio: auto; }
#examples .thumbnail-lg > img { aspect-ratio: 1; height: auto; flex: none; }
#examples .caption-label { position: static; max-width: none; white-space: normal; border: none; border-radius: 0;
  text-align: center; font-size: 0.72em; line-height: 1.25; padding: 4px 2px; flex: 1; }
@media (max-width: 1000px) { #examples .grid-container { grid-template-columns: repeat(5, minmax(0, 1fr)); } }
@media (max-width: 640px) {
  #examples .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)); }
  #timing-panel table { font-size: 0.75em; }
  #timing-panel th, #timing-panel td { padding: 3px 4px; }
  #timing-panel td:first-child { white-space: normal; }
}
"""

THEME = gr.themes.Soft(
    primary_hue="rose", neutral_hue="slate",
    # The system's own fonts: nothing to download (Soft's Montserrat and IBM Plex Mono are 200 kB of the first load).
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
).set(
    # AA contrast (4.5:1 for text) where Soft's rose and slate fall short: labels, the upload prompt, subdued text,
    # the primary button, links; dark mode keeps Soft's own, lighter text on dark.
    block_label_text_color="*primary_800", block_title_text_color="*primary_800",
    color_accent="*primary_700", color_accent_soft="*primary_50",
    body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
    button_primary_background_fill="*primary_700", button_primary_background_fill_hover="*primary_800",
    button_primary_text_color="white",
    link_text_color="*primary_800", link_text_color_visited="*primary_800",
    stat_background_fill="*primary_700",  # the probability bars, the same colour as private mode's
)
MIDDLEWARE = [Middleware(SecurityHeaders), Middleware(BodyLimit)]
"""Security headers on every response; request bodies over 28 MB refused before they are read (lesion.limits)."""


def launch(demo: gr.Blocks, **kwargs):
    """Launch with the project's theme, CSS, languages, upload limit and MCP server; keyword arguments go to Blocks.launch."""
    return demo.launch(theme=THEME, css=CSS, i18n=I18N, max_file_size=UPLOAD_LIMIT, footer_links=["api", "gradio"],
                       allowed_paths=[str(EXAMPLES_DIR)], mcp_server=True,
                       app_kwargs={"routes": demo.private_mode.routes(), "middleware": MIDDLEWARE}, **kwargs)


def server_address(environ=os.environ) -> tuple[str, int]:
    """(host, port) to serve on, from Gradio's own GRADIO_SERVER_NAME and GRADIO_SERVER_PORT, else PORT; on Spaces
    (SPACE_ID set) every interface, elsewhere only this machine.

    Raises:
        ValueError: a port that is not a number from 1 to 65535; the message names the variable.
    """
    host = environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if environ.get("SPACE_ID") else "127.0.0.1")
    name = next((name for name in ("GRADIO_SERVER_PORT", "PORT") if environ.get(name)), None)
    if name is None:
        return host, DEFAULT_PORT
    try:
        return host, port_number(environ[name])
    except ValueError:
        raise ValueError(f"{name}={environ[name]!r} is not a port number; set it to one from 1 to 65535, or unset it") from None


def port_number(text: str) -> int:
    """A TCP port from 1 to 65535; ValueError otherwise."""
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"{port} is outside 1-65535")
    return port


ENVIRONMENT_HELP = f"""environment:
  {REPO_ENV}       Hub model repo to serve (for example your-name/ham10000-efficientnet-lite0);
                          unset, or when the Hub cannot provide a valid model: the bundled model
  {REVISION_ENV}   branch, tag or commit of that repo
  {TIMEOUT_ENV}      seconds the app waits for the Hub at startup (default 10); it then serves the cached
                          or bundled model and keeps trying the Hub in the background
  HF_HUB_OFFLINE=1        use only models already in the Hugging Face cache
  GRADIO_SERVER_NAME      host to listen on (default 127.0.0.1; 0.0.0.0 on Spaces)
  GRADIO_SERVER_PORT      port to listen on (default {DEFAULT_PORT}); PORT is read when it is unset
  {KEEP_ENV}     seconds an upload or heatmap is kept before it is deleted (default {DEFAULT_KEEP_S})
  {FRAME_ANCESTORS_ENV}  origins, besides Hugging Face's, that may show the app in an iframe ("*": any)
  {TRUST_FORWARDED_ENV}=1  count callers by X-Forwarded-For's last address (behind your own proxy)
  GRADIO_ANALYTICS_ENABLED=True   send Gradio's usage analytics (off by default)

The page is at http://HOST:PORT/, its API at /gradio_api/ (see "Use via API" on the page), and its MCP server
(streamable HTTP) at /gradio_api/mcp/."""


def parse_args(argv=None, environ=os.environ) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__.split("\n\n")[0],
                                     epilog=ENVIRONMENT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        host, port = server_address(environ)
    except ValueError as error:
        parser.error(str(error))
    parser.add_argument("--host", default=host, help=f"host to listen on (now: {host})")
    parser.add_argument("--port", type=port_number, default=port, help=f"port to listen on (now: {port})")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limit_heap_growth()
    try:
        demo = build_demo()
    except InvalidBundleError as error:
        sys.exit(f"Cannot start: {error}")
    launch(demo, server_name=args.host, server_port=args.port)
