# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Speed and memory options for training: threads, mixed precision, rematerialisation.

Which of these pay off was measured by ``make bench`` (numbers in bench/README.md); all are
off by default. Typical use::

    from mammo_tf.training import perf
    perf.configure_threads(intra_op=2, inter_op=1)       # before TensorFlow runs anything
    policy = perf.use_mixed_precision()                   # before building the model
    model = build_whole_image_classifier(patch_model, top="resnet")
    trainer = perf.remat_model(model)                     # shares model's weights
    trainer.compile(...); trainer.fit(...)                # then save / export `model`
"""
import contextlib
import re

import keras

from mammo_tf.models.layers import RematSegment  # noqa: F401  (re-exported)


def configure_threads(intra_op=None, inter_op=None):
    """Set TensorFlow's intra-op / inter-op thread pools (None leaves a pool at its default).

    Must run before TensorFlow executes its first op; afterwards TensorFlow refuses and this
    raises a RuntimeError saying so. Other backends are left alone (returns False).
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    try:
        if intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        if inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError as exc:
        raise RuntimeError(
            "configure_threads() must be called before TensorFlow runs its first operation "
            f"(TensorFlow said: {exc})."
        ) from exc
    return True


def has_gpu():
    """True when the Keras backend sees a GPU."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def mixed_precision_policy(device=None):
    """``"mixed_float16"`` on a GPU, ``"mixed_bfloat16"`` on a CPU (``device``: "gpu"/"cpu"/None=detect)."""
    on_gpu = has_gpu() if device is None else device == "gpu"
    return "mixed_float16" if on_gpu else "mixed_bfloat16"


def use_mixed_precision(enabled=True, device=None):
    """Set Keras' global dtype policy for models built afterwards; returns the policy name.

    ``enabled=False`` restores ``"float32"``. The mammo_tf builders keep their ``predictions``
    layer in float32 under a mixed policy, so probabilities (and AUC ties) are unaffected.
    """
    policy = mixed_precision_policy(device) if enabled else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


# Layers whose output is the only tensor passed on to the rest of the network: the allconv
# ResNet unit outputs, VGG block pools, the stem pool and the whole-image top blocks.
SEGMENT_BOUNDARY = re.compile(r"^(pool1_pool|conv\d_block\d+_out|block\d_pool|top\d_unit\d+_out|top\d_pool)$")


def remat_boundaries(model):
    """Names of the layers where `remat_model` cuts ``model`` (in ``model.layers`` order)."""
    output_layer = model.layers[-1].name
    return [layer.name for layer in model.layers if SEGMENT_BOUNDARY.match(layer.name) and layer.name != output_layer]


def remat_model(model, boundaries=None):
    """A training twin of ``model`` with rematerialised segments; it SHARES ``model``'s weights.

    The forward pass is cut at ``boundaries`` (layer names whose output is the only tensor the
    rest of the network uses; default `remat_boundaries(model)`: every ResNet unit output / VGG
    block pool / top block). Each segment keeps only its input for backprop and recomputes the
    rest, trading ~1/3 more compute for activation memory. Train the twin (compile it; recompile
    after `set_trainable` on ``model``), then save, evaluate or export ``model`` itself: the
    layers and weights are the same objects. Known effect of the recompute: BatchNormalization
    moving statistics are updated twice per step (the estimate converges the same way, with an
    effectively higher momentum).
    """
    if not hasattr(keras, "remat"):
        raise RuntimeError(f"Rematerialisation needs keras.remat (Keras >= 3.8); installed: {keras.__version__}.")
    boundaries = remat_boundaries(model) if boundaries is None else list(boundaries)
    if not boundaries:
        raise ValueError(f"Model {model.name!r} has no remat boundary layers (expected names like "
                         "'conv2_block1_out' or 'block1_pool'); pass boundaries=[layer names].")
    inputs = keras.Input(shape=model.input.shape[1:], dtype=model.input.dtype, name=model.input.name)
    x, start = inputs, model.input
    for index, name in enumerate(boundaries + [None]):
        end = model.get_layer(name).output if name else model.output
        try:
            segment = keras.Model(start, end, name=f"remat_segment{index}")
        except ValueError as exc:
            raise ValueError(
                f"Cannot cut model {model.name!r} at layer {name!r}: the segment needs tensors from "
                f"before the previous cut ({exc})."
            ) from exc
        x = RematSegment(segment)(x)
        start = end
    return keras.Model(inputs, x, name=f"{model.name}_remat")


@contextlib.contextmanager
def dtype_policy(policy):
    """Temporarily set the global dtype policy (restored on exit)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)

