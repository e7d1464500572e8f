"""Training random forests and Keras models on So2Sat HDF5 files.

Public names (imported on first use, so importing the package stays cheap):
- ``data_statistics``: balanced_class_weights, channel_statistics
- ``epoch_loop``: EarlyStopper, make_multi_step, make_train_step
- ``finetune``: InitModel, check_init_inputs, finetune_keras, open_init_model
- ``input_transform``: ManifestTransform, make_transform, manifest_transform
- ``keras_model``: BUILD_OPTIONS, DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE, FREEZE_CHOICES, SCHEDULES, apply_freeze, build_model, head_layers, make_optimizer
- ``keras_run``: DEFAULT_BATCH_SIZE, DEFAULT_EARLY_STOPPING, DEFAULT_EPOCHS
- ``keras_training``: train_keras
- ``train``: train_model
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "balanced_class_weights": "data_statistics",
        "channel_statistics": "data_statistics",
        "EarlyStopper": "epoch_loop",
        "make_multi_step": "epoch_loop",
        "make_train_step": "epoch_loop",
        "InitModel": "finetune",
        "check_init_inputs": "finetune",
        "finetune_keras": "finetune",
        "open_init_model": "finetune",
        "ManifestTransform": "input_transform",
        "make_transform": "input_transform",
        "manifest_transform": "input_transform",
        "BUILD_OPTIONS": "keras_model",
        "DEFAULT_LEARNING_RATE": "keras_model",
        "DEFAULT_SCHEDULE": "keras_model",
        "FREEZE_CHOICES": "keras_model",
        "SCHEDULES": "keras_model",
        "apply_freeze": "keras_model",
        "build_model": "keras_model",
        "head_layers": "keras_model",
        "make_optimizer": "keras_model",
        "DEFAULT_BATCH_SIZE": "keras_run",
        "DEFAULT_EARLY_STOPPING": "keras_run",
        "DEFAULT_EPOCHS": "keras_run",
        "train_keras": "keras_training",
        "train_model": "train",
    },
)
