# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Split a Keras functional model at a feature layer, nested backbones included (backend-neutral).

``split_model(model, layer)`` returns a feature model (input -> feature map A) and a head model
(A -> output) with ``head(features(x)) == model(x)``. The feature tensor is taken from the OUTER
model's graph: a nested backbone's own ``.output`` belongs to its inner graph, which is why the
keras.io Grad-CAM recipe fails on nested models. A layer inside a nested model is named with a
path, ``"backbone/conv5_block3_out"``; the split then composes the outer layers before the nested
model, the nested model up to the layer, the rest of the nested model and the outer remainder.
"""
import contextlib
import copy
import dataclasses
import logging

from mammo_tf.backend import require_keras3
from mammo_tf.errors import RunError

require_keras3()
import keras  # noqa: E402
import numpy as np

logger = logging.getLogger(__name__)

POOL_LAYER = "global_pool"
OUTPUT_LAYER = "predictions"
_SUPPORTED_ACTIVATIONS = ("softmax", "sigmoid", "linear")


def _graph_tensor_ids(model):
    """ids of every KerasTensor reachable backwards from the model's outputs (its own graph)."""
    seen, stack = set(), list(model.outputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            continue
        operation, node_index, _ = history
        node = operation._inbound_nodes[node_index]
        stack.extend(node.input_tensors)
    return seen


def _node_in_graph(model, layer):
    """The node of ``layer``'s call inside ``model``'s own graph (not a call in another graph)."""
    ids = _graph_tensor_ids(model)
    for node in layer._inbound_nodes:
        if any(id(t) in ids for t in node.output_tensors):
            return node
    raise ValueError(f"layer {layer.name!r} is not called in the graph of model {model.name!r}")


def _layer_output(model, layer):
    node = _node_in_graph(model, layer)
    if len(node.output_tensors) != 1:
        raise ValueError(f"layer {layer.name!r} has {len(node.output_tensors)} outputs; need one")
    return node.output_tensors[0]


def _get_layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers)
        raise RunError(f"model {model.name!r} has no layer {name!r} (layers: {names})") from None


def feature_layer_name(model):
    """Name of the layer feeding ``global_pool`` (or the first global average pooling layer).

    Uses ``mammo_tf.models.trainability.feature_layer_name`` when it knows the model, else reads
    the graph.
    """
    try:
        from mammo_tf.models.trainability import feature_layer_name as models_feature_layer_name

        return models_feature_layer_name(model)
    except (ImportError, AttributeError, ValueError, KeyError):
        pass
    pool = None
    if POOL_LAYER in [layer.name for layer in model.layers]:
        pool = model.get_layer(POOL_LAYER)
    else:
        pools = [l for l in model.layers if isinstance(l, keras.layers.GlobalAveragePooling2D)]
        if pools:
            pool = pools[-1]
    if pool is None:
        raise RunError(
            f"model {model.name!r} has no '{POOL_LAYER}' / GlobalAveragePooling2D layer: "
            "name the feature layer explicitly (--layer)"
        )
    node = _node_in_graph(model, pool)
    return node.input_tensors[0]._keras_history[0].name


def _single_input(model):
    if len(model.inputs) != 1:
        raise RunError(f"model {model.name!r} has {len(model.inputs)} inputs; explain needs one image input")
    return model.inputs[0]


def _split_functional(model, parts):
    """Recursive split; returns (features: Model, head: Model) for the layer path ``parts``."""
    layer = _get_layer(model, parts[0])
    cut = _layer_output(model, layer)
    if len(parts) == 1:
        features = keras.Model(_single_input(model), cut, name=f"{model.name}_features")
        head = keras.Model(cut, model.outputs[0], name=f"{model.name}_head")
        return features, head
    if not isinstance(layer, keras.Model):
        raise RunError(f"layer {parts[0]!r} of {model.name!r} is not a nested model")
    node = _node_in_graph(model, layer)
    if len(node.input_tensors) != 1:
        raise RunError(f"nested model {layer.name!r} must take a single input")
    inner_features, inner_head = _split_functional(layer, parts[1:])
    before = keras.Model(_single_input(model), node.input_tensors[0], name=f"{model.name}_before_{layer.name}")
    after = keras.Model(cut, model.outputs[0], name=f"{model.name}_after_{layer.name}")
    x = keras.Input(shape=tuple(model.inputs[0].shape[1:]))
    features = keras.Model(x, inner_features(before(x)), name=f"{model.name}_features")
    a = keras.Input(shape=tuple(inner_head.inputs[0].shape[1:]))
    head = keras.Model(a, after(inner_head(a)), name=f"{model.name}_head")
    return features, head


def _output_layer(model):
    return model.outputs[0]._keras_history[0]


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", str(activation))


@dataclasses.dataclass
class ModelSplit:
    """A model cut at a feature layer. ``kernel``/``bias`` are set when the head is GAP+Dense."""

    model: keras.Model
    layer_name: str
    features: keras.Model
    head: keras.Model
    output_layer: keras.layers.Layer
    output_activation: str
    gap_dense: bool
    dense: keras.layers.Layer = None
    _both: keras.Model = None
    # (height, width) the original model was built for (None: it took any size); an FCN split
    # resizes patch probes to it and leaves whole mammograms at their own resolution
    native_size: tuple = None
    # how the split's model was derived from the given one ("as given", "fully convolutional",
    # "patch classifier of a heatmap model (fully convolutional)")
    conversion: str = "as given"

    @property
    def kernel(self):
        """(K, C) final Dense kernel of a GAP+Dense head (read now: weights may change)."""
        return np.asarray(keras.ops.convert_to_numpy(self.dense.kernel), dtype=np.float64)

    @property
    def bias(self):
        if not self.dense.use_bias:
            return np.zeros(self.num_classes)
        return np.asarray(keras.ops.convert_to_numpy(self.dense.bias), dtype=np.float64)

    @property
    def num_units(self):
        return int(self.features.outputs[0].shape[-1])

    @property
    def num_classes(self):
        return int(self.model.outputs[0].shape[-1])

    @property
    def input_size(self):
        """(height, width) of the model input (None where the model takes any size)."""
        shape = self.model.inputs[0].shape
        return shape[1], shape[2]

    def feature_map_size(self, size):
        """(h, w) of the feature map for inputs of ``size`` = (height, width); None for None
        (inputs of varying size). One forward pass of zeros, cached per size."""
        if size is None or None in tuple(size):
            return None
        size = tuple(int(v) for v in size)
        cache = self.__dict__.setdefault("_map_sizes", {})
        if size not in cache:
            x = np.zeros((1, *size, int(self.model.inputs[0].shape[-1])), "float32")
            cache[size] = tuple(int(v) for v in np.asarray(self.features.predict_on_batch(x)).shape[1:3])
        return cache[size]

    @property
    def fully_convolutional(self):
        """True when the split's model takes inputs of any size."""
        return None in tuple(self.input_size)

    def features_and_probabilities(self, x):
        """One forward pass: (feature maps (B,h,w,K), model outputs (B,C)) as numpy."""
        if self._both is None:
            x_in = keras.Input(shape=tuple(self.model.inputs[0].shape[1:]))
            a = self.features(x_in)
            self._both = keras.Model(x_in, [a, self.head(a)])
        a, p = self._both.predict_on_batch(np.asarray(x, dtype="float32"))
        return np.asarray(a), np.asarray(p)

    @contextlib.contextmanager
    def pre_activation(self):
        """Temporarily make the output layer linear so the head returns pre-softmax scores."""
        layer = self.output_layer
        original = getattr(layer, "activation", None)
        if self.output_activation != "linear":
            layer.activation = keras.activations.linear
        try:
            yield
        finally:
            if original is not None:
                layer.activation = original


def _fixed_size(model):
    shape = tuple(model.inputs[0].shape[1:3])
    return None if None in shape else tuple(int(s) for s in shape)


def _with_any_input_size(model):
    """The same functional model (same layers and weights) with an input of any height and
    width; ValueError when a layer needs the fixed size (Flatten + Dense over positions)."""
    config = copy.deepcopy(model.get_config())
    inputs = [layer for layer in config.get("layers", []) if layer.get("class_name") == "InputLayer"]
    if len(inputs) != 1:
        raise ValueError(f"model {model.name!r}: expected one InputLayer in its config")

    def any_size(node):  # every InputLayer, those of nested models included
        if isinstance(node, dict):
            if node.get("class_name") == "InputLayer":
                layer_config = node["config"]
                key = "batch_shape" if "batch_shape" in layer_config else "batch_input_shape"
                shape = list(layer_config[key])
                if len(shape) == 4:
                    layer_config[key] = [shape[0], None, None, shape[3]]
            for value in node.values():
                any_size(value)
        elif isinstance(node, list):
            for value in node:
                any_size(value)

    any_size(config)
    try:
        fcn = model.__class__.from_config(config)
        fcn.set_weights(model.get_weights())
        # one forward pass at another size: a Flatten + Dense over positions fails here
        height, width = _fixed_size(model)
        probe = np.zeros((1, height + 32, width + 32, int(model.inputs[0].shape[-1])), "float32")
        fcn.predict_on_batch(probe)
    except Exception as exc:  # a layer that needs the fixed size refuses the other shape
        raise ValueError(f"model {model.name!r} is not fully convolutional "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return fcn


def _patch_classifier_of_heatmap_model(model):
    """A Shen heatmap whole-image classifier -> its patch classifier (backbone + global pooling
    + the patch softmax, from the ``heatmap`` layer), fully convolutional. DeepMiner's units are
    the backbone's last conv units and its classes the patch classes; the heatmap head (pooling,
    FC layers over fixed positions) cannot take a whole mammogram of another size."""
    from mammo_tf.shen import backbone_of, build_patch_classifier

    backbone = backbone_of(model)
    heatmap = model.get_layer("heatmap")
    weights = heatmap.get_weights()
    kernel = np.asarray(weights[0])
    kernel = kernel.reshape(kernel.shape[-2], kernel.shape[-1])  # Dense (K, C) or 1x1 conv
    channels = int(model.inputs[0].shape[-1])
    patch = build_patch_classifier(backbone, num_classes=kernel.shape[1], weights=None,
                                   input_shape=(None, None, channels))
    names = {layer.name for layer in model.layers}
    for layer in patch.layers:
        if layer.weights and layer.name in names and layer.name != "predictions":
            layer.set_weights(model.get_layer(layer.name).get_weights())
    patch.get_layer("predictions").set_weights([kernel] + list(weights[1:]))
    return patch


def fully_convolutional(model):
    """(model, conversion): the FCN form of ``model`` (DeepMiner, section 3: "We first convert
    our trained network into a fully convolutional network (FCN) ... able to take in full
    mammogram images"). A model that takes any size is returned as given; a Shen heatmap
    classifier gives its patch classifier (``_patch_classifier_of_heatmap_model``); any other
    functional model is rebuilt with an input of any size (same layers and weights).
    ValueError when that is impossible."""
    if _fixed_size(model) is None:
        return model, "as given"
    if "heatmap" in {layer.name for layer in model.layers}:
        return (_patch_classifier_of_heatmap_model(model),
                "patch classifier of a heatmap model (fully convolutional)")
    return _with_any_input_size(model), "fully convolutional"


def split_model(model, layer_name=None, fcn=True):
    """Cut ``model`` at ``layer_name`` (default: the layer feeding global pooling).

    ``layer_name`` may be a path into nested models (``"backbone/conv5_block3_out"``).
    ``fcn`` (default): cut the model's fully convolutional form (``fully_convolutional``), so
    whole mammograms are explained at their own resolution; a model that cannot be converted
    is cut as given (logged), and then every input is resized to its fixed size.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "outputs", None):
        raise ValueError("need a built Keras functional (or Sequential) model")
    native, conversion = _fixed_size(model), "as given"
    if fcn and native is not None:
        try:
            model, conversion = fully_convolutional(model)
        except ValueError as exc:
            logger.warning("%s; inputs are resized to its %dx%d input", exc, *native)
    layer_name = layer_name or feature_layer_name(model)
    features, head = _split_functional(model, layer_name.split("/"))
    if len(features.outputs[0].shape) != 4:
        raise RunError(f"layer {layer_name!r} output is not a 4-D feature map: {features.outputs[0].shape}")
    output_layer = _output_layer(model)
    activation = _activation_name(output_layer)
    if activation not in _SUPPORTED_ACTIVATIONS:
        raise RunError(
            f"output layer {output_layer.name!r} has activation {activation!r}; "
            f"supported: {', '.join(_SUPPORTED_ACTIVATIONS)}"
        )
    head_layers = [l for l in head.layers if not isinstance(l, keras.layers.InputLayer)]
    gap_dense = (
        len(head_layers) >= 2
        and isinstance(head_layers[0], keras.layers.GlobalAveragePooling2D)
        and isinstance(head_layers[-1], keras.layers.Dense)
        and all(isinstance(l, keras.layers.Dropout) for l in head_layers[1:-1])
    )
    dense = head_layers[-1] if gap_dense else None
    return ModelSplit(model, layer_name, features, head, output_layer, activation, gap_dense, dense,
                      native_size=native, conversion=conversion)


def scores_to_probabilities(scores, activation):
    """Pre-activation scores (B, C) -> outputs of the model's output activation (numpy)."""
    scores = np.asarray(scores, dtype=np.float64)
    if activation == "softmax":
        z = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    return scores
