import io
import threading
import time

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from lesion.preprocess import (
    GREY_BELOW,
    DecodeBudget,
    InputSpec,
    InvalidImageError,
    _centre_crop_box,
    _to_rgb,
    colour_spread,
    fit_to_input,
    is_grey,
    load_image,
    normalise,
    prepare_pixels,
)
from tools import bad_images, huge_images
from tests.conftest import EXAMPLES, TINY_DATASET

SPEC = InputSpec()


@pytest.mark.parametrize(
    "size, box",
    [
        ((200, 150), (0, 0, 200, 150)),      # already 4:3
        ((400, 150), (100, 0, 300, 150)),    # too wide: crop the sides
        ((200, 200), (0, 25, 200, 175)),     # square: crop top and bottom
        ((600, 450), (0, 0, 600, 450)),
    ],
)
def test_centre_crop_box(size, box):
    assert _centre_crop_box(*size, 4 / 3) == box


@pytest.mark.parametrize("size", [(600, 450), (450, 600), (1024, 1024), (200, 150), (4000, 1000)])
def test_fit_to_input_always_gives_the_model_shape(size):
    pixels = fit_to_input(Image.new("RGB", size, (200, 100, 50)), SPEC)
    assert pixels.shape == (SPEC.height, SPEC.width, 3) and pixels.dtype == np.uint8
    assert (pixels == [200, 100, 50]).all()


def test_portrait_images_are_turned_not_cropped_away():
    portrait = Image.new("RGB", (150, 200), "white")
    portrait.paste((255, 0, 0), (0, 0, 150, 20))  # a red band at the top
    pixels = fit_to_input(portrait, SPEC)
    assert (pixels[:, :20] == [255, 0, 0]).all()  # turned a quarter left: the band is now the left edge


def test_dataset_sized_images_pass_unchanged():
    original = np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    assert (fit_to_input(Image.fromarray(original), SPEC) == original).all()


def test_normalise_maps_pixels_to_about_minus_one_to_one():
    values = normalise(np.array([0.0, 127.0, 255.0]), SPEC)
    assert values == pytest.approx([-127 / 128, 0, 1])


def test_preprocess_accepts_paths_bytes_and_arrays(tmp_path):
    content = bad_images.encode(bad_images._lesion(), "JPEG")
    path = tmp_path / "lesion.jpg"
    path.write_bytes(content)
    from_path, _ = prepare_pixels(path, SPEC)
    from_bytes, _ = prepare_pixels(content, SPEC)
    from_array, _ = prepare_pixels(np.asarray(Image.open(path)), SPEC)
    assert from_path.shape == (150, 200, 3) and from_path.dtype == np.uint8
    assert np.array_equal(from_path, from_bytes)
    assert np.abs(from_path.astype(int) - from_array).max() <= 6  # of 255 levels


@pytest.mark.parametrize("name", bad_images.REFUSED)
def test_bad_files_are_refused_with_a_clear_message(name):
    content, phrase = bad_images.REFUSED[name]
    with pytest.raises(InvalidImageError, match=phrase):
        load_image(content)


def test_refusal_is_a_value_error():
    assert issubclass(InvalidImageError, ValueError)


@pytest.mark.parametrize("name", bad_images.ACCEPTED)
def test_awkward_files_are_converted_and_say_so(name):
    content, phrase = bad_images.ACCEPTED[name]
    image, notes = load_image(content)
    assert image.mode == "RGB"
    assert any(phrase in note for note in notes), notes
    pixels, notes = prepare_pixels(content, SPEC)  # the app's and training's path, with whole-factor reduction
    assert pixels.shape == (SPEC.height, SPEC.width, 3)
    assert any(phrase in note for note in notes), notes


def test_grey_is_told_from_the_corrected_pixels_whatever_the_files_mode():
    spec = InputSpec(colour_constancy="shades_of_gray")
    colour = bad_images._lesion()
    grey = np.asarray(colour.convert("L"), np.float64)[..., None]
    tinted = Image.fromarray((grey * (1.0, 0.9, 0.75)).astype(np.uint8))  # a sepia print: colour correction greys it
    for image in (colour.convert("L"), colour.convert("L").convert("RGB"), tinted):
        corrected, notes = prepare_pixels(bad_images.encode(image, "PNG"), spec)
        assert colour_spread(corrected) < 1 and is_grey(corrected) and notes == []
    corrected, _ = prepare_pixels(bad_images.encode(colour, "PNG"), spec)
    assert colour_spread(corrected) > 20 and not is_grey(corrected)
    assert colour_spread(np.array([[[0, 0, 0], [255, 0, 0]], [[10, 12, 11], [1, 1, 1]]], np.uint8)) == 64.25


def test_no_dermoscopic_image_of_the_fixtures_counts_as_grey():
    spec = InputSpec(colour_constancy="shades_of_gray")
    rows = load_dataset(str(TINY_DATASET), split="train")
    spreads = [colour_spread(prepare_pixels(row["image"], spec)[0]) for row in rows]
    spreads += [colour_spread(prepare_pixels(path, spec)[0]) for path in sorted(EXAMPLES.glob("*.jpg"))]
    assert len(spreads) > 50 and min(spreads) > 1.5 * GREY_BELOW


def test_opaque_rgba_gets_no_transparency_note():
    image, notes = load_image(bad_images.encode(bad_images._lesion().convert("RGBA"), "PNG"))
    assert image.mode == "RGB" and notes == []


def test_exif_rotated_photos_are_classified_upright():
    content, upright = bad_images.exif_rotated()
    image, _ = load_image(content)
    assert image.size == upright.size
    assert np.abs(np.asarray(image, float) - np.asarray(upright, float)).mean() < 3


def test_sixteen_bit_values_are_scaled_not_clipped():
    image, _ = load_image(bad_images.ACCEPTED["16-bit PNG"][0])
    assert 50 < np.asarray(image).mean() < 230  # clipping would make it nearly all white


def test_transparent_areas_become_black():
    image, _ = load_image(bad_images.ACCEPTED["RGBA with transparency"][0])
    assert (np.asarray(image)[:, :40] == 0).all()


def test_missing_file():
    with pytest.raises(InvalidImageError, match="No image file"):
        load_image("/nonexistent/lesion.jpg")


# Bounded decoding (issue 11): refuse by header, reduce while decoding, 8-bit RGB before any float array.

def _photo(size) -> Image.Image:
    """Smooth colours with some texture, like a photo (not a flat test card)."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x * 200 / size[0], y * 200 / size[1], (x + y) * 100 / sum(size)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))


def test_huge_images_come_out_near_the_model_size():
    image, notes = load_image(huge_images.zero_png("16-bit grayscale"), target_size=(SPEC.width, SPEC.height))
    assert image.mode == "RGB" and image.size == (417, 417)  # 5000 / 12, at least twice 200x150
    assert notes == ["16-bit image: scaled to 8 bits."]


def test_reducing_large_images_changes_the_model_input_by_about_one_level():
    photo = _photo((1600, 1200))  # reduced 4x, then Lanczos
    full_size = fit_to_input(photo, SPEC).astype(int)  # Lanczos from the full image, as before
    pixels, _ = prepare_pixels(bad_images.encode(photo, "PNG", compress_level=1), SPEC)
    assert np.abs(pixels.astype(int) - full_size).mean() < 1 and np.abs(pixels.astype(int) - full_size).max() <= 8


@pytest.mark.parametrize("size", [(200, 150), (600, 450), (799, 700), (450, 600)])
def test_jpegs_decode_in_full_as_a_browser_decodes_them(size):
    """No JPEG draft mode: the shared HAM10000 copy (200x150) decodes as it always has, and every JPEG in full, so that
    private mode's preprocessing in the browser reproduces the server's exactly."""
    content = bad_images.encode(_photo(size), "JPEG", quality=90)
    full = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
    assert np.array_equal(np.asarray(load_image(content, target_size=(SPEC.width, SPEC.height))[0]), full)


@pytest.mark.parametrize("size, decoded", [((800, 600), (400, 300)), ((1700, 1300), (425, 325)), ((3000, 4000), (300, 400))])
def test_large_jpegs_are_reduced_by_a_whole_factor_to_at_least_twice_the_input(size, decoded):
    content = bad_images.encode(_photo(size), "JPEG", quality=90)
    image, _ = load_image(content, target_size=(SPEC.width, SPEC.height))
    full = Image.open(io.BytesIO(content)).convert("RGB")
    assert image.size == decoded
    assert np.array_equal(np.asarray(image), np.asarray(full.reduce(size[0] // decoded[0])))


@pytest.mark.parametrize("factor", [1, 3, 7])
def test_transparency_over_black_matches_alpha_compositing(factor):
    rgba = _photo((301, 203)).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.random.default_rng(2).integers(0, 256, (203, 301), dtype=np.uint8)))
    expected = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB").reduce(factor)
    converted = _to_rgb(rgba, [], factor)
    assert converted.size == expected.size
    assert np.abs(np.asarray(converted, int) - np.asarray(expected, int)).max() <= 1 + (factor > 1)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I"])
def test_every_sixteen_bit_layout_is_scaled(mode):
    values = (np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)
    image = Image.fromarray(values).convert("I") if mode == "I" else Image.frombytes(
        mode, (64, 48), values.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    converted = np.asarray(_to_rgb(image, []), int)[..., 0]
    assert np.abs(converted - np.round(values / 65535 * 255)).max() <= 1


def test_unconvertible_modes_are_refused():
    with pytest.raises(InvalidImageError, match="cannot be converted"):
        load_image(Image.new("La", (64, 48)))


def test_damaged_animation_is_refused():  # found by tests/e2e/test_fuzz.py: Pillow raised IndexError counting frames
    content = bad_images.encode(bad_images._lesion(), "GIF")[:-1] + b"!"
    with pytest.raises(InvalidImageError, match="corrupt or truncated"):
        load_image(content)


def test_decode_budget_makes_large_decodes_wait_their_turn():
    budget, order = DecodeBudget(100), []

    def decode(name, size, hold):
        with budget.reserve(size):
            order.append(f"{name} starts")
            time.sleep(hold)
            order.append(f"{name} ends")

    first = threading.Thread(target=decode, args=("first", 80, 0.3))
    first.start()
    time.sleep(0.1)
    decode("second", 500, 0)  # bigger than the whole budget: waits, then runs alone
    first.join()
    assert order == ["first starts", "first ends", "second starts", "second ends"]
