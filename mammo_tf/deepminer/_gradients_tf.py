# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Gradients of pre-softmax class scores w.r.t. a feature map (TensorFlow backend only)."""
import numpy as np
import tensorflow as tf


def feature_gradients(split, x, classes):
    """Return (A (B,h,w,K), dy_c/dA for each c in ``classes`` (len(classes),B,h,w,K), scores (B,C)).

    The feature map is computed by the feature model and the head is applied to it under one
    tape, so this works for nested backbones; scores are pre-activation (softmax removed).
    """
    x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    features = split.features(x, training=False)
    with split.pre_activation():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(features)
            scores = split.head(features, training=False)
            targets = [tf.reduce_sum(scores[:, int(c)]) for c in classes]
        grads = [tape.gradient(t, features) for t in targets]
    del tape
    return features.numpy(), np.stack([g.numpy() for g in grads]), scores.numpy()
