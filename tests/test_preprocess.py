import numpy as np
import pytest
from PIL import Image

from lesion.preprocess import InputSpec, InvalidImageError, _centre_crop_box, fit_to_input, load_image, normalise, preprocess
from tests import bad_images

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
    from_path, _ = preprocess(path, SPEC)
    from_bytes, _ = preprocess(content, SPEC)
    from_array, _ = preprocess(np.asarray(Image.open(path)), SPEC)
    assert from_path.shape == (150, 200, 3) and from_path.dtype == np.float32
    assert np.array_equal(from_path, from_bytes)
    assert np.abs(from_path - from_array).max() < 0.05


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
    pixels, notes = preprocess(content, SPEC)  # the app's path, with the JPEG draft mode
    assert pixels.shape == (SPEC.height, SPEC.width, 3)
    assert any(phrase in note for note in notes), notes


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
