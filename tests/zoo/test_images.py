"""Images as the zoo's vision models read them, and the photographs that install offline."""

import numpy as np
import pytest
import torch
from PIL import Image

import interpwidgets as iw
from interpwidgets.zoo.images import Preprocess, to_rgb


def test_sample_images_are_real_rgb_photographs():
    images = iw.datasets.sample_images()
    assert list(images) == ["astronaut", "chelsea", "coffee", "rocket", "motorcycle", "hubble_deep_field", "china",
                            "flower"]
    for name, image in images.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
        assert min(image.shape[:2]) >= 300 and image.std() > 20, name  # a picture, not a blank


def test_modes_are_converted():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(to_rgb(Image.fromarray(rgb).convert("RGBA")), rgb)
    assert np.array_equal(to_rgb(np.dstack([rgb, np.full((20, 30), 7, np.uint8)])), rgb)  # alpha dropped
    grey = to_rgb(rgb[..., 0])
    assert grey.shape == (20, 30, 3) and np.array_equal(grey[..., 2], rgb[..., 0])
    assert np.array_equal(to_rgb(rgb / 255.0), rgb)  # floats in [0, 1]
    assert to_rgb(Image.fromarray(rgb).convert("P")).shape == (20, 30, 3)  # palette


@pytest.mark.parametrize("image, message", [
    (np.zeros((3, 20, 30), np.uint8), r"shape \(3, 20, 30\).*channels last"),
    (np.zeros((4, 4, 3), np.uint8), r"4 x 4 pixels: at least 8"),
    (np.full((20, 20, 3), 2.0), r"outside \[0, 1\]"),
    (np.zeros((20, 20, 3), np.int64), r"dtype int64"),
    ("photo.png", r"is a str: give PIL images"),
])
def test_bad_images_are_refused_with_what_was_wrong(image, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3)([image])


def test_one_channels_first_image_is_refused_not_read_as_three():
    pre = Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3)
    for image in (np.zeros((3, 40, 50), np.uint8), torch.zeros(3, 40, 50)):
        with pytest.raises(ValueError, match="channels last"):
            pre(image)
    assert pre(np.zeros((2, 40, 50, 3), np.uint8))["pixel_values"].shape[0] == 2  # a 4-D batch is two images
    with pytest.raises(ValueError, match="no images given"):
        pre([])


def test_16_bit_images_are_refused_rather_than_clipped():
    ramp = Image.fromarray((np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40).astype(np.uint16))
    assert ramp.mode.startswith("I")
    with pytest.raises(ValueError, match="16/32-bit or float"):
        to_rgb(ramp)


def test_preprocess_resizes_crops_and_normalises():
    pre = Preprocess(256, 224, (0.5,) * 3, (0.5,) * 3)
    wide = np.zeros((200, 400, 3), np.uint8)
    wide[:, 200:] = 255  # the right half white: the centre crop holds both halves
    x = pre(wide)["pixel_values"]
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert x[0, :, :, :100].max() == -1 and x[0, :, :, -100:].min() == 1  # [0, 255] -> [-1, 1]
    assert pre([wide, wide])["pixel_values"].shape == (2, 3, 224, 224)
    whole = Preprocess(224, None, (0,) * 3, (1,) * 3)(wide)["pixel_values"]
    assert whole.shape == (1, 3, 224, 224) and whole[0, 0, :, :100].max() == 0 and whole[0, 0, :, -100:].min() > 0.999
