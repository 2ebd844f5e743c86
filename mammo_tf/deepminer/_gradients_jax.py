# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Gradients of pre-softmax class scores w.r.t. a feature map (JAX backend only)."""
import jax
import jax.numpy as jnp
import numpy as np


def feature_gradients(split, x, classes):
    """Return (A (B,h,w,K), dy_c/dA for each c in ``classes`` (len(classes),B,h,w,K), scores (B,C)).

    Same contract as the TensorFlow version: the feature model runs forward, then the head is
    differentiated w.r.t. its input with ``jax.vjp`` (one forward pass, one pullback per class);
    the head's weights enter as constants through ``stateless_call``.
    """
    x = jnp.asarray(np.asarray(x, dtype=np.float32))
    features = jnp.asarray(split.features(x, training=False))
    head = split.head
    trainable = [v.value for v in head.trainable_variables]
    non_trainable = [v.value for v in head.non_trainable_variables]

    def scores_of(a):
        out, _ = head.stateless_call(trainable, non_trainable, a, training=False)
        return out

    with split.pre_activation():
        scores, pullback = jax.vjp(scores_of, features)
        grads = []
        for c in classes:
            cotangent = jnp.zeros_like(scores).at[:, int(c)].set(1.0)
            grads.append(np.asarray(pullback(cotangent)[0]))
    return np.asarray(features), np.stack(grads), np.asarray(scores)
