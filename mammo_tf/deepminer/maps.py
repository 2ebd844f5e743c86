# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Unit influence and class maps from feature maps (numpy; gradients come from ``gradients``).

Notation: A (B, h, w, K) feature maps at the split layer, Z = h*w locations, W (K, C) the final
Dense kernel of a GAP+Dense head, y_c the pre-softmax score of class c.

* influence (DeepMiner):   I[b,k,c] = max_loc A[b,:,:,k] * W[k,c]                 (GAP+Dense)
* gradient generalisation: I[b,k,c] = max_loc A[b,:,:,k] * mean_loc(dy_c/dA_k) * Z  (any head)
  For GAP+Dense, dy_c/dA_k = W[k,c]/Z at every location, so both are equal.
* CAM:       M_c = sum_k W[k,c] A_k (the score is mean(M_c) + b_c)
* Grad-CAM:  ReLU(sum_k mean_loc(dy_c/dA_k) A_k)  (= ReLU(CAM)/Z on GAP+Dense)
* HiResCAM:  sum_k dy_c/dA_k * A_k  (element-wise; = CAM/Z on GAP+Dense; not rectified here)
"""
import cv2
import numpy as np

from mammo_tf.deepminer.gradients import feature_gradients


def max_activation(features):
    """(B, h, w, K) -> (B, K): each unit's maximum over locations."""
    features = np.asarray(features)
    return features.reshape(features.shape[0], -1, features.shape[-1]).max(axis=1)


def dense_influence(features, kernel):
    """DeepMiner influence for a GAP+Dense head: (B, K, C) = max(A_k) x W[k, c]."""
    return max_activation(features)[:, :, None].astype(np.float64) * np.asarray(kernel)[None]


def gradient_influence(features, grads):
    """Gradient form: (B, K, C) = max(A_k) x mean(dy_c/dA_k) x Z; ``grads`` is (C, B, h, w, K)."""
    grads = np.asarray(grads, dtype=np.float64)
    z = grads.shape[2] * grads.shape[3]
    mean_grad = grads.mean(axis=(2, 3)) * z  # (C, B, K)
    return max_activation(features)[:, :, None].astype(np.float64) * mean_grad.transpose(1, 2, 0)


def compute_influence(split, x, force_gradient=False):
    """(features, influence (B, K, C), model outputs (B, C)) for a batch of network inputs."""
    if split.gap_dense and not force_gradient:
        features, outputs = split.features_and_probabilities(x)
        return features, dense_influence(features, split.kernel), outputs
    from mammo_tf.deepminer.graph import scores_to_probabilities

    classes = range(split.num_classes)
    features, grads, scores = feature_gradients(split, x, classes)
    return features, gradient_influence(features, grads), scores_to_probabilities(scores, split.output_activation)


def cam(features, kernel, class_index):
    """Class activation map (B, h, w) = sum_k W[k, c] A_k (signed)."""
    return np.tensordot(np.asarray(features, np.float64), np.asarray(kernel)[:, class_index], axes=([-1], [0]))


def grad_cam(features, grads_c):
    """Grad-CAM (B, h, w): ReLU(sum_k mean_loc(dy_c/dA_k) A_k); ``grads_c`` is (B, h, w, K)."""
    weights = np.asarray(grads_c, np.float64).mean(axis=(1, 2))  # (B, K)
    return np.maximum(np.einsum("bhwk,bk->bhw", np.asarray(features, np.float64), weights), 0.0)


def hires_cam(features, grads_c):
    """HiResCAM (B, h, w): sum_k dy_c/dA_k * A_k (signed)."""
    return np.einsum("bhwk,bhwk->bhw", np.asarray(features, np.float64), np.asarray(grads_c, np.float64))


def class_maps(split, x, class_index):
    """Class maps for one class: {"cam"} for GAP+Dense heads, else {"grad_cam", "hires_cam"}.

    Returns (maps dict of (B, h, w) arrays, features (B, h, w, K), model outputs (B, C)).
    """
    if split.gap_dense:
        features, outputs = split.features_and_probabilities(x)
        return {"cam": cam(features, split.kernel, class_index)}, features, outputs
    from mammo_tf.deepminer.graph import scores_to_probabilities

    features, grads, scores = feature_gradients(split, x, [class_index])
    maps = {"grad_cam": grad_cam(features, grads[0]), "hires_cam": hires_cam(features, grads[0])}
    return maps, features, scores_to_probabilities(scores, split.output_activation)


def upsample(feature_map, size):
    """Bilinear upsampling of a (h, w) map to ``size`` = (height, width)."""
    height, width = int(size[0]), int(size[1])
    return cv2.resize(np.asarray(feature_map, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
