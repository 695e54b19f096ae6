"""One answer per image: what the page's headline, the API's label and JSON, and MCP say, from one rule.

The rule (lesion/web/result.js's headlineMarkdown is its JavaScript twin, tested against this module):

1. The guard fired (not dermoscopic): the headline says so and nothing else. No percentage, no class, no melanoma
   alarm, no bars and no heatmap on the page; in the API, `top` is null, `probabilities` is empty, and /predict's
   confidences are empty, so that no caller can read a class off an image the model does not know.
2. The melanoma alarm is raised: the headline leads with the alarm and the advice to see a doctor. No other class is
   named in large type; what the seven bars say follows in ordinary text ("Apart from the alarm, the seven bars read:
   ..."). On a grey image the alarm says its figures were measured on colour photos only. /predict's label is the
   alarm's.
3. Otherwise the headline is lesion.verdict's claim: one diagnosis with its probability when it reaches
   UNSURE_BELOW ("confident"), the two or three leading ones when unsure or grey, then the malignant share, the
   quiet alarm with how many melanomas it misses (when the model has one), and the advice to see a doctor when the
   share reaches SEE_A_DOCTOR_FROM or the image is grey.

The words live in lesion.i18n (one table per language); the browser gets the same table in settings.json.
"""

from __future__ import annotations

from lesion import i18n, verdict
from lesion.classifier import Prediction
from lesion.labels import BY_CODE, CODES
from lesion.timing import STEPS

DISCLAIMER = "Research demo, not a diagnosis."

ALARM_LABEL = "Melanoma alarm raised: have the lesion checked by a doctor"
"""/predict's label when the alarm is raised, whatever the bars say."""
NOT_DERMOSCOPIC_LABEL = "Not a dermoscopic image: no answer"
"""/predict's label when the guard fires; its confidences are then empty."""


def alarm_raised(prediction: Prediction) -> bool:
    return prediction.melanoma_alarm is not None and prediction.melanoma_alarm.raised


def label_output(prediction: Prediction, language: str = i18n.DEFAULT) -> dict[str, float]:
    """{"Melanoma (mel)": 0.12, ...} for all seven classes; empty when the guard fired (rule 1)."""
    if not prediction.dermoscopic:
        return {}
    return {i18n.diagnosis_name(code, language): p for code, p in prediction.probabilities.items()}


def _verdict_markdown(judged: verdict.Verdict, language: str) -> str:
    names = [i18n.diagnosis_name(code, language) for code in judged.leading]
    joined = i18n.message("or", language).join(names)
    if judged.kind == "unsure":
        return i18n.message("headline_unsure", language, names=joined, threshold=verdict.UNSURE_BELOW,
                            p1=verdict.shown_probability(judged.probability))
    if judged.kind == "grayscale":
        return i18n.message("headline_grayscale", language, names=joined, p1=judged.probability)
    return i18n.message("headline_confident", language, top=names[0], p1=judged.probability)


def headline(prediction: Prediction, language: str = i18n.DEFAULT) -> str:
    """The result's headline as markdown, by the module's rule: a "## " heading (the page's h1 is its title), then paragraphs."""
    judged, alarm = prediction.verdict, prediction.melanoma_alarm
    if judged.kind == "not_dermoscopic":  # rule 1
        return i18n.message("headline_not_dermoscopic", language)
    grey = judged.kind == "grayscale"
    share = i18n.message("malignant_share", language, share=judged.malignant_share)
    if alarm is not None and alarm.raised:  # rule 2
        lead = (i18n.message("headline_alarm_grey", language) if grey else
                i18n.message("headline_alarm", language, sensitivity=alarm.sensitivity, false_alarms=1 - alarm.specificity))
        reading = _verdict_markdown(judged, language).removeprefix("## ")
        title, _, rest = reading.partition("\n")
        bars = i18n.message("bars_reading", language, reading=title) + (f" {rest}" if rest else "")
        return "\n\n".join([lead, bars, share])
    parts = [_verdict_markdown(judged, language), share]  # rule 3
    if alarm is not None:
        parts.append(i18n.message("melanoma_alarm_quiet_grey", language) if grey else
                     i18n.message("melanoma_alarm_quiet", language, missed=1 - alarm.sensitivity))
    if grey or judged.malignant_share >= verdict.SEE_A_DOCTOR_FROM:
        parts.append(i18n.message("see_a_doctor", language))
    return "\n\n".join(parts)


def verdict_label(prediction: Prediction) -> str:
    """/predict's label: the headline's claim in a few words (English, as the API's other text)."""
    judged = prediction.verdict
    names = [i18n.diagnosis_name(code, i18n.DEFAULT) for code in judged.leading]
    if judged.kind == "not_dermoscopic":
        return NOT_DERMOSCOPIC_LABEL
    if alarm_raised(prediction):
        return ALARM_LABEL
    if judged.kind == "grayscale":
        return f"Grayscale image, unreliable: {' or '.join(names)}"
    return f"Unsure: {' or '.join(names)}" if judged.kind == "unsure" else names[0]


def answer_json(prediction: Prediction) -> dict:
    """What /classify and /classify_batch both say of one image."""
    top, judged, meaningful = prediction.top, prediction.verdict, prediction.dermoscopic
    return {
        "probabilities": prediction.probabilities if meaningful else {},
        "top": {"code": top, "name": BY_CODE[top].name, "probability": prediction.probabilities[top]} if meaningful else None,
        "verdict": {"kind": judged.kind, "leading": list(judged.leading), "alarm": alarm_raised(prediction),
                    "label": verdict_label(prediction)},
        "dermoscopic": prediction.dermoscopic,
        "grey": prediction.grey,
        "melanoma_alarm": alarm_json(prediction),
        "timings_ms": {step.removesuffix("_ms"): getattr(prediction.timings, step) for step in STEPS},
        "notes": prediction.notes,
    }


def alarm_json(prediction: Prediction) -> dict | None:
    """The API's melanoma_alarm: the alarm's fields, validation's figures named as such; None without an alarm."""
    alarm = prediction.melanoma_alarm
    if alarm is None:
        return None
    return {"raised": alarm.raised, "odds": alarm.odds, "threshold": alarm.threshold,
            "validation_sensitivity": alarm.sensitivity, "validation_specificity": alarm.specificity}


def model_json(source) -> dict:
    """The model that answered (a lesion.hub.ModelSource): name, version, where it came from and why."""
    return {"name": source.bundle.name, "version": source.bundle.version, "source": source.origin,
            "revision": source.revision, "reason": source.reason}


# --- what "Use via API", view_api() and MCP tell callers: one sentence or more each, never a wrapped fragment ----------

PREDICT_DESCRIPTION = (
    "Classify a dermoscopic image of a skin lesion into the seven HAM10000 diagnoses. Research demo, not a diagnosis: "
    "the model has not been clinically validated, is often unsure and can be wrong.")
PREDICT_RETURNS = (
    f"The verdict as label and the probability of each diagnosis as confidences. The label is a diagnosis such as "
    f"Melanoma (mel) when its probability reaches {verdict.UNSURE_BELOW:.0%}, Unsure: A or B below that, Grayscale "
    f"image, unreliable: A or B for an image without colour, {ALARM_LABEL} whenever the melanoma alarm is raised, or "
    f"{NOT_DERMOSCOPIC_LABEL} with no confidences at all when the image does not look like dermoscopy.")
CLASSIFY_DESCRIPTION = (
    "Classify a dermoscopic image of a skin lesion and return plain JSON with every class's probability, the top "
    "class, the verdict, the melanoma alarm, timings, conversion notes and the model that answered. Research demo, "
    "not a diagnosis: only a doctor can diagnose a lesion.")
CLASSIFY_RETURNS = (
    "JSON with probabilities, top, verdict, dermoscopic, grey, melanoma_alarm, timings_ms, notes, model, "
    "statistics_since_startup and disclaimer, and a PNG of where the model looks at its top class. When the image "
    "does not look like dermoscopy, probabilities is empty, top is null and there is no PNG.")
BATCH_DESCRIPTION = (
    "Classify a dermoscopic image of a skin lesion like classify, for callers who send many images: requests waiting "
    "together are classified in one batch. Research demo, not a diagnosis.")
BATCH_RETURNS = (
    "The JSON of classify without the guard's score and the running statistics, or an object with one key, error, "
    "saying why this image cannot be classified; a bad image fails no other image in its batch.")
IMAGE_ARGUMENT = "A dermoscopic photo of one skin lesion, JPEG or PNG."


def api_snippets(url: str) -> str:
    """The page's own Python, JavaScript and MCP snippets, at the page's own address (app.page_address)."""
    return f"""```python
from gradio_client import Client, handle_file

client = Client("{url}")
details, heatmap_png = client.predict(handle_file("lesion.jpg"), api_name="/classify")
print(details["verdict"]["label"], details["dermoscopic"], heatmap_png)
```

```js
import {{ Client, handle_file }} from "@gradio/client";

const client = await Client.connect("{url}");
const {{ data }} = await client.predict("/classify", {{ image: handle_file("lesion.jpg") }});
console.log(data[0].verdict.label);
client.close();
```

MCP (streamable HTTP): `{url}gradio_api/mcp/`"""


def docstring(description: str, returns: str) -> str:
    """An endpoint's docstring as Gradio parses it for view_api() and MCP: each part on one line."""
    return f"{description}\n\nArgs:\n    image: {IMAGE_ARGUMENT}\n\nReturns:\n    {returns}\n"


CLASSIFICATION_SCHEMA = {
    "type": "object",
    "description": "Every class's probability, the top class, timings, conversion notes, the model and running "
                   "statistics. A research demo, not a diagnosis.",
    "properties": {
        "probabilities": {"type": "object", "additionalProperties": {"type": "number"},
                          "description": f"The probability of each HAM10000 code ({', '.join(CODES)}), summing to 1; "
                                         "empty when the image does not look like dermoscopy."},
        "top": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
            "code": {"type": "string"}, "name": {"type": "string"}, "probability": {"type": "number"}}}],
                "description": "The most probable class; null when the image does not look like dermoscopy."},
        "verdict": {"type": "object", "properties": {
            "kind": {"type": "string", "enum": ["confident", "unsure", "grayscale", "not_dermoscopic"]},
            "leading": {"type": "array", "items": {"type": "string"}}, "alarm": {"type": "boolean"},
            "label": {"type": "string"}},
            "description": "What the page's headline claims. It names one diagnosis (code in leading) when its "
                           "probability reaches 60%, the two or three leading codes when unsure or when the image has "
                           "no colour, and none when the image is not dermoscopic. When alarm is true the melanoma "
                           "alarm is raised and leads the answer, whatever the leading codes are. Label is /predict's "
                           "label."},
        "dermoscopic": {"type": "boolean", "description": "False when the image does not look like a dermoscopic "
                        "image of a skin lesion; then there is no answer."},
        "grey": {"type": "boolean", "description": "True for an image without colour, on which the model, trained on "
                 "colour photos, is often wrong."},
        "dermoscopic_score": {"type": "number", "description": "The guard's score behind dermoscopic."},
        "dermoscopic_score_meaning": {"type": "string", "description": "What the score measures, and the threshold."},
        "melanoma_alarm": {
            "anyOf": [{"type": "null"}, {"type": "object", "properties": {
                "raised": {"type": "boolean"}, "odds": {"type": "number"}, "threshold": {"type": "number"},
                "validation_sensitivity": {"type": "number"}, "validation_specificity": {"type": "number"}}}],
            "description": "A melanoma alarm apart from the probabilities. It is raised when log p(mel) - log p(nv) "
                           "reaches the threshold fitted on validation, where it caught validation_sensitivity of "
                           "melanomas and stayed quiet for validation_specificity of other lesions. It is null when "
                           "the model has none or the image is not dermoscopic.",
        },
        "timings_ms": {"type": "object", "properties": {step.removesuffix("_ms"): {"type": "number"} for step in STEPS},
                       "description": "Milliseconds this image took to decode, preprocess and classify, and in total."},
        "notes": {"type": "array", "items": {"type": "string"}, "description": "How the image was converted."},
        "model": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                                   "source": {"type": "string"},
                                                   "revision": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                                   "reason": {"type": "string"}},
                  "description": "The model that answered: where it came from (hub, cache or bundled) and why."},
        "statistics_since_startup": {"type": "object", "additionalProperties": {"type": "object"},
                                     "description": "Per step: count, mean, std, p50, p95, min and max in ms."},
        "disclaimer": {"type": "string", "description": "Research demo, not a diagnosis."},
    },
}
"""/classify's JSON, for "Use via API" and agents."""

BATCH_KEYS = ("probabilities", "top", "verdict", "dermoscopic", "grey", "melanoma_alarm", "timings_ms", "notes", "model", "disclaimer")
"""/classify_batch's keys for each classified image: /classify's, less the guard's score, statistics and heatmap."""

BATCH_SCHEMA = {
    "type": "object",
    "description": "Every class's probability, the top class, the verdict, whether the image looks dermoscopic, the "
                   "melanoma alarm, timings, conversion notes and the model; or an error for an image that cannot be "
                   "classified.",
    "properties": {**{key: CLASSIFICATION_SCHEMA["properties"][key] for key in BATCH_KEYS},
                   "error": {"type": "string", "description": "Why the image cannot be classified; then no other key "
                                                              "is given."}},
}
"""/classify_batch's JSON for each image."""

PROBABILITIES_DESCRIPTION = PREDICT_RETURNS
HEATMAP_DESCRIPTION = ("A PNG twice the model's input size: the image as the model got it, with its evidence for the "
                       "top class drawn over it, brighter where it weighs more; none when the image does not look "
                       "like dermoscopy.")
