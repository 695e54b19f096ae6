"""The model card: one dict of metadata, used for the bundle's README.md and the Hub push alike."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from lesion.labels import CODES, DIAGNOSES
from training import config as recipe
from training.data import HAM10000, OUTSIDE

DATASET_ID = "marmal88/skin_cancer"
"""The Hub copy of HAM10000 with the same columns as the local one this model was trained on."""

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A {{ "%.1f"|format(size_mb) }} MB TFLite skin-lesion classifier for dermoscopic images: {{ backbone }} fine-tuned on HAM10000 with a
recipe chosen for how it holds up on other clinics' images. It powers a research demo.

> **Not a medical device.** This model is a research demo. It has not been clinically validated and must never be
> used to diagnose, rule out or triage skin cancer. Its probabilities are calibrated on HAM10000's images; on other
> clinics' images it is right less often than they say. Anyone worried about a skin lesion should see a doctor.

## Results: internal and external side by side

Every figure comes through the app's own preprocessing and LiteRT classifier. The internal test split shares no lesion
with training{% if externals %}; {% for name in externals %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %} {{ "is" if externals|length == 1 else "are" }} from other clinics and cameras, never trained on{% endif %}.
Balanced accuracy (BA) is the mean recall over the classes each set has (listed). Melanoma sensitivity and specificity
are those of the served rule (the most probable class){% if bundle_config.melanoma_alarm %}; the app's melanoma decision is the melanoma
alarm ([below](#melanoma-alarm)), not the most probable class{% endif %}. The melanoma AUC is given for the network's own probabilities
and for the served ones: the rule's class shift changes how melanomas rank, since a melanoma's probability depends on
the other classes'.

| set | images | classes | BA | melanoma sensitivity | melanoma specificity | melanoma AUC: network's own → served | macro AUC | ECE before → after calibration |
|---|---|---|---|---|---|---|---|---|
{% for row in sets %}| {{ row.name }} | {{ row.n_images }} | {{ row.classes }} | {{ row.ba }} | {{ row.mel_sens }} | {{ row.mel_spec }} | {{ row.mel_auc }} | {{ row.macro_auc }} | {{ row.ece }} |
{% endfor %}

Recall of each class:

| set | {% for code in codes %}{{ code }} | {% endfor %}
|---|{% for code in codes %}---|{% endfor %}
{% for row in recalls %}| {{ row.name }} | {% for value in row.cells %}{{ value }} | {% endfor %}
{% endfor %}

{% if by_site %}Internal test split by acquisition site (HAM10000's `sources.csv`):

| site | images | classes | BA | melanoma sensitivity | melanoma specificity | melanoma AUC |
|---|---|---|---|---|---|---|
{% for row in by_site %}| {{ row.name }} | {{ row.n_images }} | {{ row.classes }} | {{ row.ba }} | {{ row.mel_sens }} | {{ row.mel_spec }} | {{ row.mel_auc }} |
{% endfor %}{% endif %}

![Confusion matrix on the internal test split](confusion_matrix.png)
{% for name in externals %}![Confusion matrix on {{ name }}](confusion_matrix_{{ name }}.png)
{% endfor %}

{% if comparison %}## How the recipe was chosen

{{ comparison }}{% if refit %}
Each candidate's figures come from its own bundle, under the decision rule it was trained with. This bundle's rule was
refitted afterwards (`training.refit`{% if refit.min_accuracy is defined %}, with floors: accuracy {{ refit.min_accuracy }}, melanoma recall
{{ refit.min_melanoma_recall }}{% endif %}), so its figures above differ from its row.
{% endif %}
![Recipe comparison](comparison.png)
{% endif %}

{{ alarm }}## Calibrated probabilities

The logits, shifted per class by the decision rule, are divided by a temperature of {{ "%.2f"|format(bundle_config.temperature) }}, fitted on the validation split{% if outside %} and the validation from other clinics{% endif %}
(negative log-likelihood) after that rule. It never changes the top class, only how sure the probabilities sound. ECE is the top-label
expected calibration error over 15 bins.

![Reliability before and after calibration](reliability.png)

## When not to trust it: the dermoscopy guard

Every inference also scores how far the image's features lie from HAM10000's: the squared Mahalanobis distance to the
nearest class mean under Gaussians with one shared covariance, fitted to the training split's features (in their
{{ guard_dimensions }} leading principal components, and the rest), divided by the dimension. Above {{ "%.2f"|format(bundle_config.guard.threshold) }}, the
{{ guard_percentile }} percentile on the validation split, the app says the image does not look like a dermoscopic image of a skin lesion.

| images | flagged as not dermoscopic |
|---|---|
{% for row in guard_rows %}| {{ row.name }} | {{ row.value }} |
{% endfor %}

Missed photos: {{ guard.missed|join(", ") if guard.missed else "none" }}.
Photos come from scikit-image's and matplotlib's bundled pictures, each whole and centre-cropped; they were used to
develop the guard, so they are not an independent test. No clinical (non-dermoscopic) close-ups of skin lesions were
available offline, so how the guard treats a phone photo of a mole is not measured here; since the model has never seen
such photos, a flag on them is the honest answer.

## Keras and TFLite side by side

Balanced accuracy (BA) on validation (used to choose) and test (reported), before calibration, with
{{ views|length }} test-time view{{ "s" if views|length > 1 else "" }}; latency is the median wall time of one LiteRT inference
(preprocessing not included) on the training machine's {% if cpu_count %}{{ cpu_count }} {% endif %}CPU cores.

| model | size (MB) | val BA | test BA | test melanoma sensitivity | latency (ms) |
|---|---|---|---|---|---|
{% for row in variants %}| {{ row.name }} | {{ row.size_mb }} | {{ row.val_ba }} | {{ row.test_ba }} | {{ row.test_mel }} | {{ row.latency }} |
{% endfor %}

![Variants](variants.png)

**Served:** {{ chosen.name }}, the fastest variant of at most 6 MB whose validation BA is within 0.01 of the best.
The app also ships `browser/model.tflite`, the same int8 network with float32 input and outputs and a batch of one,
for LiteRT.js in the browser.

## Which data informed which choice

| data | used for |
|---|---|
| HAM10000 training split | fitting the weights; the guard's Gaussians; int8 calibration ranges |
| HAM10000 validation split | early stopping and the learning-rate schedule; the TFLite variant; test-time views ({{ views|join(", ") }}); the temperature; the guard's threshold; the class bias{% if bundle_config.melanoma_alarm %}; the melanoma alarm's threshold{% endif %} |
{% if outside %}| validation from other clinics ({{ outside.n }} images of {{ run.extra_dataset|join(", ") }}, held out by lesion) | with HAM10000's validation split: the temperature, the class bias{% if bundle_config.melanoma_alarm %} and the melanoma alarm's threshold{% endif %}; and, with it and the held-out site, choosing among the candidates |
| external sets ({{ externals|join(", ") }}) | nothing: scored once, after the choice (a test set) |
{% elif comparison %}| held-out site and external sets ({{ externals|join(", ") }}) | choosing the recipe among the candidates above, the decision rule's floors (training's default){% if bundle_config.melanoma_alarm %}, the melanoma alarm's score (`training.rule_sweep` at git tag studies-2026-12){% endif %}, and the guard's feature layers: **external, used for model selection**, so their figures here are optimistic |
{% endif %}| HAM10000 test split | nothing: reported only |

## Training

- Data: {{ n_images }} HAM10000 images from `{{ run.dataset }}`{% if run.hold_out_site %}, without site {{ run.hold_out_site }}{% endif %},
  split by `lesion_id` into train {{ n_train }}, validation {{ n_val }} and test {{ n_test }} images, stratified by
  class, seed {{ run.seed }}. `split.json` lists every image id.{% if outside %}
- Extra training data: {{ outside.n_extra }} images from {{ run.extra_dataset|join(", ") }} ({{ outside.classes }}), other clinics
  and dermatoscopes. {{ outside.n }} of them, {{ run.extra_validation_fraction }} of each class's lesions (an image is its
  own lesion where the source names none), are validation from other clinics; the rest are training images
  ({{ n_train }} in all). {% if run.balance_sources %}Each class's training images are drawn so that each large source
  gets an equal share of it.{% endif %}{% if run.extra_weight != 1 %}Within each class, an image from another clinic is
  drawn {{ run.extra_weight }} times as often as a HAM10000 image.{% endif %}{% endif %}
- Input: {{ spec.width }}x{{ spec.height }} pixels, turned to landscape, centre-cropped to 4:3 and resized{% if spec.colour_constancy != "none" %},
  then colour-corrected with {{ spec.colour_constancy.replace("_", " ") }} (p=6){% endif %}, and normalised as (x - {{ spec.mean }}) / {{ spec.std }},
  in training and serving alike (`lesion/preprocess.py`).
- Backbone: {{ backbone }} with {{ run.weights_source() }}.
- Phase 1: the new head on the frozen backbone, {{ run.head_epochs }} epochs at learning rate {{ run.head_learning_rate }}.
  Phase 2: all but the first {{ (run.frozen_fraction * 100)|round|int }}% of backbone layers fine-tuned, up to
  {{ run.finetune_epochs }} epochs at {{ run.finetune_learning_rate }}, BatchNorm {{ "trained" if train_batchnorm else "frozen (ImageNet statistics)" }},
  with an exponential moving average of the weights, early stopping on validation BA, ReduceLROnPlateau.
  Batch {{ run.batch_size }}, Adam, label smoothing {{ label_smoothing }}.
  {% if training_minutes is not none %}Fitting took {{ training_minutes|round|int }} minutes{% if cpu_count %} on {{ cpu_count }} CPU cores{% endif %}.{% endif %}
- Class imbalance (nevi are 67%): {{ imbalance|join("; ") }}.
- Augmentation (strong, `training/augment.py`): flips and rotation by any angle (lesions have no up or down),
  zoom from a close-up to a wider view, shifts, brightness, contrast, saturation, hue, gamma, blur and vignetting.

![Training curves](training_curves.png)

## Classes

| code | diagnosis | |
|---|---|---|
{% for d in diagnoses %}| {{ d.code }} | {{ d.name }} | {{ d.explanation }} |
{% endfor %}

## Limitations

- HAM10000 comes from two centres (Vienna and Queensland) and mostly from fair-skinned patients. The external figures
  above show how much is lost on another clinic's images; expect worse on darker skin and other dermatoscopes.
- Training images are 200x150 pixels: the model never sees finer detail, whatever the upload's resolution.
- Calibration was fitted on HAM10000's validation split{% if outside %} and the validation from other clinics{% endif %}; on other clinics' images the probabilities are less reliable
  (see the external ECE).

## Reproduce

```bash
{{ command }}
{% set bundle = refit.bundle if refit else run.output_dir ~ "/bundle" %}{% if refit %}{{ refit.command }}
{% endif %}{% for name, data in external_data %}python -m training.evaluate --model {{ bundle }} --data {{ data }}
{% endfor %}python -m training.evaluate --model {{ bundle }} --data {{ run.dataset }} --split test
```

## Citation and licence

Trained on HAM10000: Tschandl, Rosendahl and Kittler, "The HAM10000 dataset, a large collection of multi-source
dermatoscopic images of common pigmented skin lesions", Scientific Data 5, 180161 (2018),
doi:10.1038/sdata.2018.161. The data's CC BY-NC 4.0 licence carries over to this model: non-commercial use only.
{% if outside %}Also trained on ISIC Archive images that are not HAM10000 (CC-0 or CC BY-NC 4.0): the ISIC 2017 challenge set, Codella et
al., "Skin lesion analysis toward melanoma detection: A challenge at ISBI 2017", arXiv:1710.05006 (2018), and more
archive images (https://www.isic-archive.com).
{% endif %}{% if externals %}External validation: {% for name in externals %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %} (Derm7pt: Kawahara et al., IEEE JBHI 23(2), 2019); figures only, no data.
{% endif %}EfficientNet-Lite: Tan and Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019 (Apache-2.0 weights).
"""


def _f(value, spec=".3f") -> str:
    return "-" if value is None else format(value, spec)


def alarm_section(rule: dict, results: dict) -> str:
    """The card's melanoma alarm section: the rule, and its figures on every set eval_results.json scores it on."""
    named = [("validation (sets the threshold)", results.get("validation")),
             ("validation from other clinics (sets the threshold too)", results.get(OUTSIDE)),
             ("HAM10000 test (internal)", results.get("test")), ("held-out site", results.get("site_out"))]
    named += [(f"{name} (external)", r) for name, r in results.get("external", {}).items()]
    rows = [f"| {name} | {r['n_images']} | {_f(a['sensitivity'])} | {_f(a['specificity'])} | {_f(a['auc'])} ({_f(r['melanoma_auc'])}) | "
            f"{_f(a['sensitivity_at_specificity_80'])} ({_f(r['melanoma_sensitivity_at_specificity_80'])}) |"
            for name, r in named if r and (a := r.get("melanoma_alarm"))]
    return "\n".join([
        "## Melanoma alarm",
        "",
        "Apart from the seven probabilities, the app raises a melanoma alarm when log p(mel) - log p(nv) of the served",
        f"probabilities reaches {rule['threshold']:.3f}. Weighed against nevus alone, without the other five classes in",
        "the sum, melanomas from other clinics rank better than by the melanoma probability; HAM10000's own rank worse.",
        f"The threshold, fitted on validation only, leaves {rule['validation_specificity']:.0%} of validation's other",
        "lesions quiet. In brackets: the same figures for the served melanoma probability.",
        "",
        "| set | images | sensitivity | specificity | melanoma AUC | best sensitivity at specificity 0.8 |",
        "|---|---|---|---|---|---|",
        *rows,
        "", "",
    ])


def set_row(name: str, result: dict) -> dict:
    """One row of the internal-against-external table."""
    ece, mel_auc = _f(result["expected_calibration_error"]), _f(result["melanoma_auc"])
    if "uncalibrated" in result:
        ece = f"{_f(result['uncalibrated']['expected_calibration_error'])} → {ece}"
        if "melanoma_auc" in result["uncalibrated"]:
            mel_auc = f"{_f(result['uncalibrated']['melanoma_auc'])} → {mel_auc}"
    return {"name": name, "n_images": result["n_images"], "classes": " ".join(result["classes_present"]),
            "ba": _f(result["balanced_accuracy"]), "mel_sens": _f(result["melanoma_sensitivity"]),
            "mel_spec": _f(result["melanoma_specificity"]), "mel_auc": mel_auc,
            "macro_auc": _f(result["macro_auc_ovr"]), "ece": ece}


def card_data(model_name: str, test: dict, externals: dict) -> ModelCardData:
    """Hub metadata, with model-index results from the internal test split and each external set."""
    def result(dataset: str, split: str, metric_type: str, name: str, value: float) -> EvalResult:
        return EvalResult(task_type="image-classification", dataset_type=DATASET_ID if split == "test" else dataset,
                          dataset_name=dataset, dataset_split=split, metric_type=metric_type, metric_name=name,
                          metric_value=round(value, 4))

    rows = [("HAM10000 (lesion-grouped test split)", "test", test)] + [(name, "external", r) for name, r in externals.items()]
    measured = []
    for dataset, split, scores in rows:
        measured.append((dataset, split, "balanced_accuracy", "Balanced accuracy", scores["balanced_accuracy"]))
        if alarm := scores.get("melanoma_alarm"):  # the app's melanoma decision, apart from the bars
            measured += [
                (dataset, split, "recall", "Melanoma sensitivity (melanoma alarm)", alarm["sensitivity"]),
                (dataset, split, "specificity", "Melanoma specificity (melanoma alarm)", alarm["specificity"]),
                (dataset, split, "roc_auc", "Melanoma AUC (melanoma alarm)", alarm["auc"]),
            ]
        else:
            measured += [
                (dataset, split, "recall", "Melanoma sensitivity", scores["melanoma_sensitivity"]),
                (dataset, split, "roc_auc", "Melanoma AUC", scores["melanoma_auc"]),
            ]
    measured.insert(1, ("HAM10000 (lesion-grouped test split)", "test", "accuracy", "Accuracy", test["accuracy"]))
    return ModelCardData(
        model_name=model_name,
        license="cc-by-nc-4.0",
        library_name="tflite",
        pipeline_tag="image-classification",
        datasets=[DATASET_ID],
        metrics=["accuracy", "recall", "specificity", "roc_auc"],
        tags=["dermatology", "dermoscopy", "skin-lesion", "HAM10000", "efficientnet-lite", "tflite", "litert"],
        eval_results=[result(*row) for row in measured if row[-1] is not None],
    )


def write_card(directory: Path, *, run, results: dict, chosen: dict, bundle_config: dict) -> ModelCard:
    """Render the card into directory/README.md and return it.

    Args:
        run: the TrainConfig; results: eval_results.json's content; chosen: the served variant's row, with `views`.
    """
    from training.guard import GUARD_DIMENSIONS, GUARD_FALSE_ALARMS

    externals = results["external"]
    named = [("HAM10000 test (internal)", results["test"])]
    if OUTSIDE in results:
        named.insert(0, ("validation from other clinics (fits the rule)", results[OUTSIDE]))
    if "site_out" in results:
        named.append((f"site {run.hold_out_site} (held out)", results["site_out"]))
    named += [(f"{name} (external)", r) for name, r in externals.items()]
    split = json.loads((directory / "split.json").read_text())
    guard = results["guard_photos"]
    guard_rows = [{"name": f"{name}: dermoscopic, all should pass", "value": f"{r['guard_false_alarms']:.1%}"} for name, r in
                  [("validation (sets the threshold)", results["validation"]), *named]]
    guard_rows.append({"name": f"{guard['n_images']} photos that are not dermoscopy: all should be flagged", "value": f"{guard['detected']:.1%}"})
    outside = None
    if OUTSIDE in results:
        extra = {source: counts for source, counts in split["train_sources"].items() if source != HAM10000}
        outside = {"n": len(split[OUTSIDE]), "n_extra": sum(map(sum, (c.values() for c in extra.values()))) + len(split[OUTSIDE]),
                   "classes": "; ".join(f"{source} in training: " + ", ".join(f"{dx} {n}" for dx, n in counts.items())
                                        for source, counts in extra.items())}
    comparison = (directory / "comparison.md").read_text() if (directory / "comparison.md").is_file() else None
    # the bundle stores shift / temperature (training/rule.py); the card gives the shift as fitted
    fitted_shift = [shift * bundle_config.get("temperature", 1.0) for shift in bundle_config["class_bias"]]
    card = ModelCard.from_template(
        card_data(bundle_config["name"], results["test"], externals), template_str=TEMPLATE,
        model_name=bundle_config["name"], size_mb=chosen["size_mb"], run=run, spec=run.input_spec, externals=list(externals),
        external_data=[(name, r["data"]) for name, r in externals.items()],
        sets=[set_row(name, r) for name, r in named], codes=CODES,
        recalls=[{"name": name, "cells": [_f(r["per_class"][c]["recall"]) if r["per_class"][c]["support"] else "-" for c in CODES]}
                 for name, r in named],
        by_site=[set_row(site, r) for site, r in results.get("test_by_site", {}).items()],
        comparison=comparison, bundle_config=bundle_config, guard=guard, guard_rows=guard_rows, guard_dimensions=GUARD_DIMENSIONS,
        views=chosen["views"], variants=_variant_rows(results["variants"]), chosen=chosen, cpu_count=results["run"].get("cpu_count"),
        n_images=sum(len(split[s]) for s in ("train", "validation", "test")), n_train=len(split["train"]),
        n_val=len(split["validation"]), n_test=len(split["test"]), training_minutes=results["run"]["training_minutes"],
        refit=results["run"].get("refit"), outside=outside,
        imbalance=imbalance_measures(run, dict(zip(CODES, fitted_shift))), diagnoses=DIAGNOSES,
        guard_percentile=f"{100 * (1 - GUARD_FALSE_ALARMS):g}th", command=results["run"]["command"],
        backbone=recipe.BACKBONE, train_batchnorm=recipe.TRAIN_BATCHNORM, label_smoothing=recipe.LABEL_SMOOTHING,
        alarm=alarm_section(bundle_config["melanoma_alarm"], results) if "melanoma_alarm" in bundle_config else "",
    )
    card.save(directory / "README.md")
    return card


def imbalance_measures(run, class_bias: dict) -> list[str]:
    """What the run did about class imbalance, in words, for the card."""
    measures = []
    if run.class_weight_power > 0:
        measures.append(f"class weights (largest count / count) ** {run.class_weight_power}")
    shifts = ", ".join(f"{code} {shift:+.2f}" for code, shift in class_bias.items())
    measures.append(f"a per-class shift of the logits chosen on validation for balanced accuracy ({shifts}), before the temperature")
    return measures


def _variant_rows(table: list[dict]) -> list[dict]:
    return [{"name": row["name"], "size_mb": _f(row.get("size_mb"), ".2f"), "val_ba": _f(row["val"]["balanced_accuracy"]),
             "test_ba": _f(row["test"]["balanced_accuracy"]), "test_mel": _f(row["test"]["melanoma_sensitivity"]),
             "latency": _f(row.get("latency_ms"), ".1f")} for row in table]
