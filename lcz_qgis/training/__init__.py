"""Training random forests and Keras models on So2Sat HDF5 files.

Public names (imported on first use, so importing the package stays cheap):
- ``keras_training``: BUILD_OPTIONS, DEFAULT_BATCH_SIZE, DEFAULT_EARLY_STOPPING, DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE, EarlyStopper, FREEZE_CHOICES, InitModel, ManifestTransform, SCHEDULES, apply_freeze, balanced_class_weights, build_model, channel_statistics, check_init_inputs, finetune_keras, head_layers, make_multi_step, make_optimizer, make_train_step, make_transform, manifest_transform, open_init_model, train_keras
- ``train``: train_model
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BUILD_OPTIONS": "keras_training",
        "DEFAULT_BATCH_SIZE": "keras_training",
        "DEFAULT_EARLY_STOPPING": "keras_training",
        "DEFAULT_EPOCHS": "keras_training",
        "DEFAULT_LEARNING_RATE": "keras_training",
        "DEFAULT_SCHEDULE": "keras_training",
        "EarlyStopper": "keras_training",
        "SCHEDULES": "keras_training",
        "balanced_class_weights": "keras_training",
        "build_model": "keras_training",
        "channel_statistics": "keras_training",
        "make_multi_step": "keras_training",
        "make_optimizer": "keras_training",
        "make_train_step": "keras_training",
        "make_transform": "keras_training",
        "FREEZE_CHOICES": "keras_training",
        "InitModel": "keras_training",
        "ManifestTransform": "keras_training",
        "apply_freeze": "keras_training",
        "check_init_inputs": "keras_training",
        "finetune_keras": "keras_training",
        "head_layers": "keras_training",
        "manifest_transform": "keras_training",
        "open_init_model": "keras_training",
        "train_keras": "keras_training",
        "train_model": "train",
    },
)
