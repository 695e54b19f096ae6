"""The model card: one dict of metadata, used for the bundle's README.md and the Hub push alike."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from lesion.labels import DIAGNOSES

DATASET_ID = "marmal88/skin_cancer"
"""The Hub copy of HAM10000 with the same columns as the local one this model was trained on."""

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A {{ size_mb }} MB TFLite skin-lesion classifier for dermoscopic images: {{ backbone }} fine-tuned on HAM10000,
scored on a test split that shares no lesion with training. It powers a research demo.

> **Not a medical device.** This model is a research demo. It has not been clinically validated and must never be
> used to diagnose, rule out or triage skin cancer. Anyone worried about a skin lesion should see a doctor.

## Results on the lesion-grouped test split ({{ test.n_images }} images)

| metric | value |
|---|---|
{% for name, value in headline %}| {{ name }} | {{ value }} |
{% endfor %}

| class | precision | recall | F1 | AUC | images |
|---|---|---|---|---|---|
{% for code, row in test.per_class.items() %}| {{ code }} | {{ "%.3f"|format(row.precision) }} | {{ "%.3f"|format(row.recall) }} | {{ "%.3f"|format(row.f1) }} | {{ "%.3f"|format(row.auc) if row.auc is not none else "-" }} | {{ row.support }} |
{% endfor %}| macro avg | {{ "%.3f"|format(test.macro_avg.precision) }} | {{ "%.3f"|format(test.macro_avg.recall) }} | {{ "%.3f"|format(test.macro_avg.f1) }} | {{ "%.3f"|format(test.macro_auc_ovr) if test.macro_auc_ovr is not none else "-" }} | |
| weighted avg | {{ "%.3f"|format(test.weighted_avg.precision) }} | {{ "%.3f"|format(test.weighted_avg.recall) }} | {{ "%.3f"|format(test.weighted_avg.f1) }} | | |

![Confusion matrix](confusion_matrix.png)

## Keras and TFLite side by side

Balanced accuracy (BA) and accuracy on validation (used to choose) and test (reported), with the app's
{{ views|length }} test-time views; latency is the median wall time of LiteRT inference for one image ({{ views|length }}
views in one batch, preprocessing not included) on the training machine's {{ cpu_count }} CPU cores.

| model | size (MB) | val BA | val accuracy | test BA | test accuracy | test melanoma recall | latency (ms) |
|---|---|---|---|---|---|---|---|
{% for row in variants %}| {{ row.name }} | {{ row.size_mb }} | {{ row.val_ba }} | {{ row.val_acc }} | {{ row.test_ba }} | {{ row.test_acc }} | {{ row.test_mel }} | {{ row.latency }} |
{% endfor %}

![Variants](variants.png)

**Chosen:** {{ choice }}

## Training

- Data: all {{ n_images }} images of HAM10000 from `{{ config.dataset }}`, split by `lesion_id` into train {{ n_train }}, validation
  {{ n_val }} and test {{ n_test }} images, stratified by class, seed {{ seed }}. `split.json` lists every image id.
- Input: {{ spec.width }}x{{ spec.height }} pixels (a third of the 600x450 originals, the size of the offline copy), normalised
  as (x - {{ spec.mean }}) / {{ spec.std }}.
  Photos are turned to landscape, centre-cropped to 4:3 and resized, in training and serving alike (`lesion/preprocess.py`).
- Backbone: {{ backbone }} with {{ weights_source }}.
- Phase 1: the new head on the frozen backbone, {{ config.head_epochs }} epochs at learning rate {{ config.head_learning_rate }}.
  Phase 2: all but the first {{ (config.frozen_fraction * 100)|round|int }}% of backbone layers fine-tuned, up to
  {{ config.finetune_epochs }} epochs at {{ config.finetune_learning_rate }}, BatchNorm {{ "trained" if config.train_batchnorm else "frozen" }},
  early stopping on validation balanced accuracy, ReduceLROnPlateau. Batch {{ config.batch_size }}, Adam, label smoothing
  {{ config.label_smoothing }}.{% if training_minutes is not none %} Fitting took {{ training_minutes }} minutes on {{ cpu_count }} CPU cores.{% endif %}
- Class imbalance (nevi are 67%): class weights in the loss of (count of the largest class / count of the class) **
  {{ config.class_weight_power }}, so rare classes count much more, short of full balancing, which would let a hundred
  dermatofibromas dominate the loss. Then a per-class log-probability shift chosen on validation (`class_bias` in
  config.json) that keeps validation accuracy at least {{ config.min_accuracy }} and melanoma recall at least
  {{ config.min_melanoma_recall }}, and within those floors maximises balanced accuracy: {{ class_bias }}.
- Augmentation: horizontal and vertical flips, rotation by any angle (which includes quarter turns), zoom, shift, and mild
  brightness, contrast and saturation jitter. Lesions have no up or down.
- Test-time views: {{ views|join(", ") }}; their probabilities are averaged.

![Training curves](training_curves.png)

## Classes

| code | diagnosis | |
|---|---|---|
{% for d in diagnoses %}| {{ d.code }} | {{ d.name }} | {{ d.explanation }} |
{% endfor %}

## Limitations

- HAM10000 comes from two centres (Vienna and Queensland) and mostly from fair-skinned patients. Expect worse results
  on darker skin, on other dermoscopes and on clinical (non-dermoscopic) photos.
- Training images are 200x150 pixels: the model never sees finer detail, whatever the upload's resolution.
- Probabilities come from a class-weighted model with a decision-rule shift: they rank classes, they are not
  calibrated risks (expected calibration error {{ "%.3f"|format(test.expected_calibration_error) }} on test).

## Reproduce

```bash
{{ command }}
python -m training.evaluate --model {{ config.output_dir }}/bundle --data {{ config.dataset }} --split test
```

## Citation and licence

Trained on HAM10000: Tschandl, Rosendahl and Kittler, "The HAM10000 dataset, a large collection of multi-source
dermatoscopic images of common pigmented skin lesions", Scientific Data 5, 180161 (2018),
doi:10.1038/sdata.2018.161. The data's CC BY-NC 4.0 licence carries over to this model: non-commercial use only.
EfficientNet-Lite: Tan and Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019 (Apache-2.0 weights).
"""

HEADLINE = (
    ("balanced accuracy (mean recall)", "balanced_accuracy"),
    ("accuracy", "accuracy"),
    ("melanoma sensitivity (recall)", "melanoma_sensitivity"),
    ("melanoma specificity", "melanoma_specificity"),
    ("macro one-vs-rest AUC", "macro_auc_ovr"),
    ("macro F1", None),
    ("top-2 accuracy", "top_2_accuracy"),
    ("top-3 accuracy", "top_3_accuracy"),
    ("expected calibration error", "expected_calibration_error"),
)


def card_data(model_name: str, test: dict) -> ModelCardData:
    """Hub metadata, with model-index results from the test split."""
    def result(metric_type: str, name: str, value: float) -> EvalResult:
        return EvalResult(task_type="image-classification", dataset_type=DATASET_ID, dataset_name="HAM10000 (lesion-grouped test split)",
                          dataset_split="test", metric_type=metric_type, metric_name=name, metric_value=round(value, 4))

    measured = [
        ("balanced_accuracy", "Balanced accuracy", test["balanced_accuracy"]),
        ("accuracy", "Accuracy", test["accuracy"]),
        ("f1", "Macro F1", test["macro_avg"]["f1"]),
        ("roc_auc", "Macro one-vs-rest AUC", test["macro_auc_ovr"]),
        ("recall", "Melanoma recall", test["melanoma_sensitivity"]),
    ]

    return ModelCardData(
        model_name=model_name,
        license="cc-by-nc-4.0",
        library_name="tflite",
        pipeline_tag="image-classification",
        datasets=[DATASET_ID],
        metrics=["accuracy", "recall", "f1", "roc_auc"],
        tags=["dermatology", "dermoscopy", "skin-lesion", "HAM10000", "efficientnet-lite", "tflite", "litert"],
        eval_results=[result(*row) for row in measured if row[2] is not None],
    )


def write_card(directory: Path, *, model_name: str, test: dict, **fields) -> ModelCard:
    """Render the card into directory/README.md and return it."""
    values = [(label, test["macro_avg"]["f1"] if key is None else test[key]) for label, key in HEADLINE]
    headline = [(label, "-" if value is None else f"{value:.3f}") for label, value in values]
    card = ModelCard.from_template(card_data(model_name, test), template_str=TEMPLATE, model_name=model_name, test=test,
                                   headline=headline, diagnoses=DIAGNOSES, **fields)
    card.save(directory / "README.md")
    return card
