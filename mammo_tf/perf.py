# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Speed and memory options for training: threads, XLA, mixed precision, rematerialisation.

Which of these pay off was measured by ``make bench`` (numbers in bench/README.md); all are
off by default. Typical use::

    from mammo_tf import perf
    perf.configure_threads(intra_op=2, inter_op=1)       # before TensorFlow runs anything
    policy = perf.use_mixed_precision()                   # before building the model
    model = perf.build_with_remat(build_whole_image_classifier, patch_model, top="resnet")
    perf.keep_float32_outputs(model)
    model.compile(..., jit_compile=perf.jit_compile_option(False))
"""
import contextlib

import keras

REMAT_MODES = ("full", "larger_than", "activations")


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

    ``enabled=False`` restores ``"float32"``. Call `keep_float32_outputs` on each model built
    under a mixed policy so its probabilities stay float32.
    """
    policy = mixed_precision_policy(device) if enabled else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def keep_float32_outputs(model, layer_names=("predictions",)):
    """Compute the named output layers (the softmax ``predictions``) in float32; returns ``model``.

    Under a mixed policy the Dense softmax would otherwise emit bfloat16/float16 probabilities
    (about 3 significant digits), which would tie scores and shift AUCs. Layers absent from the
    model are skipped.
    """
    names = {layer.name for layer in model.layers}
    for name in layer_names:
        if name in names:
            model.get_layer(name).dtype_policy = "float32"
    return model


def remat_scope(mode="full", output_size_threshold=1024, layer_names=None):
    """A ``keras.RematScope`` (layers built inside recompute their forward pass during backprop).

    Raises a clear error on Keras versions without it (added in Keras 3.8).
    """
    if not hasattr(keras, "RematScope"):
        raise RuntimeError(
            f"Rematerialisation needs keras.RematScope (Keras >= 3.8); installed Keras is {keras.__version__}."
        )
    if mode not in REMAT_MODES + ("list_of_layers",):
        raise ValueError(f"Unknown remat mode {mode!r}; valid modes: {', '.join(REMAT_MODES)}, list_of_layers.")
    return keras.RematScope(mode=mode, output_size_threshold=output_size_threshold, layer_names=layer_names)


def build_with_remat(builder, *args, remat=True, mode="full", output_size_threshold=1024, **kwargs):
    """Call a model builder (e.g. ``build_whole_image_classifier``) with rematerialised layers.

    Every layer the builder creates recomputes its forward pass in the backward pass instead of
    keeping its intermediates (``mode`` as in ``keras.RematScope``). The returned model itself
    is not rematerialised as one unit (that would recompute everything and save nothing).
    ``remat=False`` just calls the builder.
    """
    if not remat:
        return builder(*args, **kwargs)
    with remat_scope(mode, output_size_threshold):
        model = builder(*args, **kwargs)
    model._remat_mode = None  # no public setter; the scope gave the outer model a mode too
    return model


@contextlib.contextmanager
def dtype_policy(policy):
    """Temporarily set the global dtype policy (restored on exit)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def jit_compile_option(enabled):
    """The value for ``model.compile(jit_compile=...)``: XLA on/off explicitly (Keras' "auto"
    already turns XLA off on CPU-only machines)."""
    return bool(enabled)
