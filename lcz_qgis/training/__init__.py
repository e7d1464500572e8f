"""Training random forests and Keras models on So2Sat HDF5 files.

Public names (imported on first use, so importing the package stays cheap):
- ``data_statistics``: balanced_class_weights, channel_statistics
- ``epoch_loop``: EarlyStopper, make_multi_step, make_train_step
- ``finetune``: finetune_keras, finetune_network
- ``init_model``: InitModel, check_init_inputs, open_init_model
- ``input_transform``: ManifestTransform, make_transform, manifest_transform
- ``keras_model``: BUILD_OPTIONS, DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE, FREEZE_CHOICES, SCHEDULES, apply_freeze, build_model, head_layers, make_optimizer
- ``keras_training``: train_keras, train_new_network
- ``options``: DEFAULT_BATCH_SIZE, DEFAULT_EARLY_STOPPING, DEFAULT_EPOCHS, KerasOptions, check_applicable
- ``rf``: train_forest
- ``train``: train_keras_model, train_model
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
        "finetune_keras": "finetune",
        "finetune_network": "finetune",
        "InitModel": "init_model",
        "check_init_inputs": "init_model",
        "open_init_model": "init_model",
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
        "train_keras": "keras_training",
        "train_new_network": "keras_training",
        "DEFAULT_BATCH_SIZE": "options",
        "DEFAULT_EARLY_STOPPING": "options",
        "DEFAULT_EPOCHS": "options",
        "KerasOptions": "options",
        "check_applicable": "options",
        "train_forest": "rf",
        "train_keras_model": "train",
        "train_model": "train",
    },
)
