"""Constants shared by every part of mammo_tf (sizes, class names, pixel scale)."""

# Whole images are resized to this (height, width), aspect ratio ignored, as in the paper.
WHOLE_IMAGE_SIZE = (1152, 896)
PATCH_SIZE = 224

# Backbones of Shen's classifiers (Keras-free, for command-line choices): the paper's three and
# MobileNet v1 alpha 0.25 (CPU-sized; its real ImageNet weights are available offline).
SHEN_BACKBONES = ("vgg16", "vgg19", "resnet50", "mobilenet")
# DeepMiner's reference network (Wu et al., section 2.1: "ResNet-152 pretrained on ImageNet").
DEEPMINER_BACKBONES = ("resnet152",)
# The NYU authors' heatmap patch classifier (DenseNet-121, mammo_tf.nyu.densenet).
NYU_BACKBONES = ("densenet121",)
# Every backbone a patch classifier can be built on (train_patch.py --backbone).
PATCH_BACKBONES = SHEN_BACKBONES + DEEPMINER_BACKBONES + NYU_BACKBONES

# 16-bit PNG values are mapped to the 0-255 scale the caffe-style ImageNet weights expect.
PIXEL_SCALE = 255.0 / 65535.0
UINT16_MAX = 65535

# Patch classes: index = label stored in patch HDF5 files and predicted by patch classifiers.
PATCH_CLASSES = ("background", "calc_benign", "calc_malignant", "mass_benign", "mass_malignant")
BENIGN_PATCH_CLASSES = ("calc_benign", "mass_benign")
MALIGNANT_PATCH_CLASSES = ("calc_malignant", "mass_malignant")

# Whole-image classes: index 1 is the positive (malignant) class.
WHOLE_IMAGE_CLASSES = ("negative", "positive")

# The run metadata a SavedModel exported by mammo_tf carries (a copy of the run's run.json).
SAVED_MODEL_INFO = "mammo_tf_run.json"

# NYU four-view outputs (column order of the cancer heads) and BI-RADS pretraining classes:
# here so that run.json handling (mammo_tf.runs) needs no method package; mammo_tf.nyu.constants
# re-exports them as OUTPUT_NAMES / BIRADS_CLASSES.
NYU_OUTPUT_NAMES = ("left_benign", "right_benign", "left_malignant", "right_malignant")
NYU_BIRADS_CLASSES = ("birads_0", "birads_1", "birads_2")


def default_class_names(num_classes):
    """Class names of a classifier with ``num_classes`` outputs (whole-image, patch, or generic)."""
    if num_classes == len(WHOLE_IMAGE_CLASSES):
        return list(WHOLE_IMAGE_CLASSES)
    if num_classes == len(PATCH_CLASSES):
        return list(PATCH_CLASSES)
    return [f"class_{i}" for i in range(num_classes)]
