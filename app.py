"""Skin lesion classifier: a Gradio research demo of an EfficientNet-Lite model trained on HAM10000.

    python app.py        # serves http://127.0.0.1:7860 (on Spaces: 0.0.0.0:7860)

Set LESION_MODEL_REPO (and optionally LESION_MODEL_REVISION) to serve a model from the Hugging Face Hub;
without it, or when the Hub cannot provide a valid model, the bundled model is served.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import gradio as gr

from lesion.bundle import InvalidBundleError
from lesion.classifier import Prediction
from lesion.hub import ModelSource, resolve_model
from lesion.labels import BY_CODE, DIAGNOSES, read_labelled_folder
from lesion.preprocess import InvalidImageError
from lesion.timing import STEPS, LatencyStats

EXAMPLES_DIR = Path(__file__).parent / "examples"
MAX_FILE_SIZE = "20mb"
"""Uploads above this are refused by Gradio before they reach the model; dermoscopy photos are 0.2-10 MB."""
CONCURRENCY = 4
"""Requests in flight at once: decoding and resizing run in parallel; the interpreter itself takes one at a time."""
QUEUE_SIZE = 64
"""Further requests are turned away with "queue full" instead of waiting minutes."""
MAX_BATCH = 16
"""/classify_batch classifies up to this many waiting requests together."""
UNSURE_BELOW = 0.6
"""Under this top probability the page says plainly that the model is unsure."""

DISCLAIMER = (
    "**Research demo, not a diagnosis.** This model has not been clinically validated. It can be wrong, and it is "
    "often unsure. It must never be used to diagnose, rule out or triage skin cancer. If a spot on your skin worries "
    "you, changes, bleeds or itches, see a doctor."
)


class LesionImage(gr.Image):
    """The Image input, minus Gradio's own decoding: the uploaded file goes to lesion.preprocess untouched,
    so every bad file (empty, corrupt, not an image) gets the project's own clear message."""

    is_template = True  # rendered by Gradio's Image front end

    def preprocess(self, payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return payload.path
        return super().preprocess(payload)


def load_examples(folder: Path = EXAMPLES_DIR) -> list[tuple[str, str]]:
    """(image path, true diagnosis code) for each example."""
    return [(str(path), dx) for path, dx in read_labelled_folder(folder)]


def label_output(prediction: Prediction) -> dict[str, float]:
    """{"Melanoma (mel)": 0.12, ...} for all seven classes."""
    return {BY_CODE[code].display_name: p for code, p in prediction.probabilities.items()}


def verdict(prediction: Prediction) -> str:
    """A plain sentence about the result that never hides how unsure it is."""
    ranked = sorted(prediction.probabilities.items(), key=lambda item: -item[1])
    (first, p1), (second, p2) = ranked[0], ranked[1]
    top = BY_CODE[first]
    if p1 < UNSURE_BELOW:
        text = (f"**The model is unsure.** Its best guess is {top.display_name} at {p1:.0%}, "
                f"but {BY_CODE[second].display_name} gets {p2:.0%}.")
    else:
        text = f"The model's best guess is **{top.display_name}** at {p1:.0%}; the runner-up, {BY_CODE[second].display_name}, gets {p2:.0%}."
    malignant = sum(p for code, p in prediction.probabilities.items() if BY_CODE[code].malignant)
    text += f" The malignant and pre-malignant classes (akiec, bcc, mel) together get {malignant:.0%}."
    if malignant >= 0.2:
        text += " Whatever the model says, only a doctor can tell: please have the lesion checked."
    return text


def notes_markdown(notes: list[str]) -> str:
    return "\n".join(f"- {note}" for note in notes)


def timing_markdown(prediction: Prediction | None, stats: dict, source: ModelSource) -> str:
    """The timing panel: this classification, running statistics since startup, and which model runs."""
    bundle = source.bundle
    rows = ["| | preprocessing | inference | total |", "|---|---:|---:|---:|"]
    if prediction is not None:
        t = prediction.timings
        rows.append(f"| this image | {t.preprocess_ms:.1f} ms | {t.inference_ms:.1f} ms | {t.total_ms:.1f} ms |")
    count = stats["total_ms"]["count"]
    if count:
        for label, key in (("mean", "mean"), ("std. deviation", "std"), ("min", "min"), ("max", "max")):
            cells = " | ".join(f"{stats[step][key]:.1f} ms" for step in STEPS)
            rows.append(f"| {label} | {cells} |")
    model = (f"**Model:** {bundle.name} {bundle.version} ({bundle.config['quantization']}, {bundle.size_mb:.1f} MB), "
             f"from {source.origin}" + (f" at revision {source.revision[:12]}" if source.revision else "") + f": {source.reason}.")
    return "\n".join([f"**Classifications since startup:** {count}", "", *rows, "", model])


def about_markdown() -> str:
    rows = "\n".join(f"| {d.display_name} | {'malignant or pre-malignant' if d.malignant else 'benign'} | {d.explanation} |"
                     for d in DIAGNOSES)
    return ("The model tells apart the seven diagnoses of the HAM10000 dataset. It knows nothing else: a photo "
            "of anything else still gets one of these labels.\n\n| class | | what it is |\n|---|---|---|\n" + rows)


def build_demo(source: ModelSource | None = None) -> gr.Blocks:
    """The whole app. Loads the model once (from the Hub or the bundle) unless a source is given."""
    source = source or resolve_model()
    classifier = source.classifier
    stats = LatencyStats()

    def run(image_path: str | None) -> Prediction:
        if image_path is None:
            raise gr.Error("Please upload an image first.", title="No image")
        try:
            prediction = classifier.classify(image_path)
        except InvalidImageError as error:
            raise gr.Error(str(error), title="This image cannot be classified") from None
        stats.add(prediction.timings)
        return prediction

    def predict(image: str | None) -> dict[str, float]:
        """Classify a dermoscopic image. Returns the probability of each of the 7 HAM10000 diagnoses, keyed by
        display name, for example "Melanoma (mel)". A research demo, not a diagnosis."""
        return label_output(run(image))

    def classify(image: str | None) -> dict:
        """Classify a dermoscopic image and return plain JSON: every class's probability, the top class,
        timings in milliseconds with running statistics since startup, notes on how the image was converted,
        and the model's name and version."""
        prediction = run(image)
        top = BY_CODE[prediction.top]
        return {
            "probabilities": prediction.probabilities,
            "top": {"code": top.code, "name": top.name, "probability": prediction.probabilities[top.code]},
            "timings_ms": {"preprocess": prediction.timings.preprocess_ms, "inference": prediction.timings.inference_ms,
                           "total": prediction.timings.total_ms},
            "notes": prediction.notes,
            "model": {"name": source.bundle.name, "version": source.bundle.version, "source": source.origin,
                      "revision": source.revision},
            "statistics_since_startup": stats.snapshot(),
            "disclaimer": "Research demo, not a diagnosis.",
        }

    def classify_batch(images: list[str | None]) -> list[list[dict]]:
        """Classify a dermoscopic image; requests waiting together are classified in one batch, for callers who
        send many images at once. Returns every class's probability, the top class, timings in milliseconds and
        notes, or {"error": why} for an image that cannot be classified, which fails no other image in its batch."""
        results = iter(classifier.classify_batch([image for image in images if image is not None]))
        answers = []
        for image in images:
            result = next(results) if image is not None else InvalidImageError("Please upload an image first.")
            if isinstance(result, InvalidImageError):
                answers.append({"error": str(result)})
                continue
            stats.add(result.timings)
            answers.append({"probabilities": result.probabilities, "top": result.top, "notes": result.notes,
                            "timings_ms": {"preprocess": result.timings.preprocess_ms,
                                           "inference": result.timings.inference_ms, "total": result.timings.total_ms}})
        return [answers]

    def show(image: str | None):
        """The page's own event: label, verdict, notes and timing panel from one classification."""
        if image is None:
            return None, "", "", timing_markdown(None, stats.snapshot(), source)
        prediction = run(image)
        return (label_output(prediction), verdict(prediction), notes_markdown(prediction.notes),
                timing_markdown(prediction, stats.snapshot(), source))

    with gr.Blocks(title="Skin lesion classifier (research demo)") as demo:
        gr.Markdown("# Skin lesion classifier\nUpload a **dermoscopic** photo of a skin lesion, or pick an example below. "
                    f"A small CNN ({source.bundle.config.get('backbone', 'unknown backbone')}) trained on HAM10000 gives "
                    "the probability of each of seven diagnoses.")
        gr.Markdown(DISCLAIMER, elem_classes=["disclaimer"])
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                lesion_image = LesionImage(label="Dermoscopic image", type="filepath", image_mode=None,
                                           sources=["upload", "webcam", "clipboard"], height=340)
                classify_button = gr.Button("Classify", variant="primary")
                conversion_notes = gr.Markdown()
            with gr.Column(min_width=300):
                diagnosis_probabilities = gr.Label(label="Probability of each diagnosis", num_top_classes=len(DIAGNOSES))
                result_verdict = gr.Markdown()
                with gr.Accordion("Timing and model", open=True):
                    timing_panel = gr.Markdown(timing_markdown(None, stats.snapshot(), source), elem_id="timing-panel")
        examples = load_examples()
        gr.Markdown("### Examples\nClick one. ISIC 2018 test images, never seen in training, captioned with their true diagnosis.")
        example_gallery = gr.Gallery(
            value=[(path, BY_CODE[dx].display_name) for path, dx in examples], label="Examples", show_label=False,
            columns=7, height="auto", allow_preview=False, object_fit="cover", interactive=False, buttons=[],
            elem_id="examples",
        )
        with gr.Accordion("The seven diagnoses", open=False):
            gr.Markdown(about_markdown())
        with gr.Accordion("Use it from Python", open=False):
            gr.Markdown(API_HELP)

        def pick_example(selection: gr.SelectData) -> str:
            return examples[selection.index][0]

        example_gallery.select(pick_example, None, lesion_image, api_visibility="private")
        page_outputs = [diagnosis_probabilities, result_verdict, conversion_notes, timing_panel]
        gr.on([lesion_image.change, classify_button.click], show, inputs=lesion_image, outputs=page_outputs,
              api_visibility="private", concurrency_limit=CONCURRENCY, concurrency_id="classify")
        gr.on([], predict, inputs=lesion_image, outputs=diagnosis_probabilities, api_name="predict",
              concurrency_limit=CONCURRENCY, concurrency_id="classify")
        gr.on([], classify, inputs=lesion_image, outputs=gr.JSON(visible=False), api_name="classify",
              concurrency_limit=CONCURRENCY, concurrency_id="classify")
        gr.on([], classify_batch, inputs=lesion_image, outputs=gr.JSON(visible=False), api_name="classify_batch",
              batch=True, max_batch_size=MAX_BATCH, concurrency_limit=1, concurrency_id="classify_batch")
    demo.queue(max_size=QUEUE_SIZE)
    return demo


API_HELP = """```python
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")   # or the Space id
result = client.predict(handle_file("lesion.jpg"), api_name="/predict")
print(result["label"], result["confidences"])
details = client.predict(handle_file("lesion.jpg"), api_name="/classify")   # plain JSON with timings
```"""

CSS = """
.disclaimer { border-left: 4px solid var(--color-accent); padding: 0.25rem 0.75rem; background: var(--block-background-fill); }
#timing-panel table { font-variant-numeric: tabular-nums; }
#timing-panel th, #timing-panel td { white-space: nowrap; }
#examples .caption-label { white-space: normal; max-width: 94%; font-size: 0.72em; line-height: 1.25; }
@media (max-width: 500px) {
  #timing-panel table { font-size: 0.75em; }
  #timing-panel th, #timing-panel td { white-space: normal; padding: 4px; }
}
"""

THEME = gr.themes.Soft(primary_hue="rose", neutral_hue="slate")


def launch(demo: gr.Blocks, **kwargs):
    """Launch with the project's theme, CSS and upload limit; keyword arguments go to Blocks.launch."""
    return demo.launch(theme=THEME, css=CSS, max_file_size=MAX_FILE_SIZE, footer_links=["api", "gradio"],
                       allowed_paths=[str(EXAMPLES_DIR)], **kwargs)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        demo = build_demo()
    except InvalidBundleError as error:
        sys.exit(f"Cannot start: {error}")
    on_spaces = bool(os.environ.get("SPACE_ID"))
    launch(demo, server_name="0.0.0.0" if on_spaces else None, server_port=int(os.environ.get("PORT", 7860)))
