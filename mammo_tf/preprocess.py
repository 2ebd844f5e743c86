"""The network input convention shared by training, prediction and export.

16-bit grey image -> x * 255/65535 -> minus ONE scalar pixel mean of the training split ->
grey copied to 3 channels. No ImageNet ``preprocess_input`` (the caffe-style weights expect
0-255 inputs, which this keeps). ``to_network_input`` is the numpy version used by the data
pipeline and ``predict``; ``RawImagePreprocessing`` is the same as a Keras layer, embedded in
exported SavedModels so that clients send the image as read from the file.
"""
from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402
import numpy as np

from mammo_tf.constants import PIXEL_SCALE


def to_network_input(image, pixel_mean, scale=PIXEL_SCALE):
    """Map a 16-bit grey image (H, W), (H, W, 1) or a batch (N, H, W[, 1]) to float32 (..., 3).

    ``image`` values are on the 0-65535 scale; ``pixel_mean`` is on the 0-255 scale.
    Never modifies ``image`` in place.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.shape[-1] == 3 and x.ndim >= 3:
        x = x * np.float32(scale) - np.float32(pixel_mean)
        return x
    if x.ndim >= 3 and x.shape[-1] == 1:
        x = x[..., 0]
    x = x * np.float32(scale) - np.float32(pixel_mean)
    return np.repeat(x[..., None], 3, axis=-1)


@keras.saving.register_keras_serializable(package="mammo_tf")
class RawImagePreprocessing(keras.layers.Layer):
    """Keras layer: raw 16-bit single-channel images (N, H, W, 1) -> network input (N, H, W, 3)."""

    def __init__(self, pixel_mean, scale=PIXEL_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.pixel_mean = float(pixel_mean)
        self.scale = float(scale)

    def call(self, images):
        x = keras.ops.cast(images, "float32") * self.scale - self.pixel_mean
        return keras.ops.repeat(x, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)

    def get_config(self):
        config = super().get_config()
        config.update({"pixel_mean": self.pixel_mean, "scale": self.scale})
        return config
