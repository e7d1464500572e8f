"""What every part of the core shares: errors, feedback (progress/cancel), write-then-rename outputs, the So2Sat band definitions and the LCZ legend.

Public names (imported on first use, so importing the package stays cheap):
- ``aligned_arrays``: ALIGN, aligned_empty, dlpack_ready, is_aligned
- ``atomic``: DiskFull, PARTIAL, StagedOutputs, Terminated, atomic_output, check_distinct_paths, check_output_path, hold_interrupt, output_name, quiet_close, replace_together, same_file, staged_outputs, swap_in, terminate_like_interrupt, write_text_atomic
- ``background``: Prefetcher, in_reader_thread
- ``bands``: DN_SCALE, DN_THRESHOLD, INVALID_VALUES, PATCH_SIZE, SEN1_CHANNELS, SEN1_VALUE_LIMIT, SEN2_BANDS, SEN2_VALUE_LIMIT, SENSORS, channel_limits, parse_bands, patches_in_range, range_note, sensor_channels, sensor_for_channel_count, value_limit
- ``dependencies``: Environment, InstallResult, Need, add_to_path, check_imports, constraints_file, constraints_text, environment, install, is_installed, missing, move_in, numpy_version, pip_error, run_pip, target_dir
- ``enums``: Filter, Format, Framework, Scale, Sensor, StrEnum, codes
- ``errors``: Cancelled, LczError, MissingDependency, check_seed, first_line, require
- ``input_files``: check_input_file, is_virtual
- ``python_exe``: Interpreter, candidates, check_python, find_python
- ``tensorflow_import``: guard_tensorflow_import, system_protobuf_mapped
- ``feedback``: ConsoleFeedback, Feedback, RecordingFeedback
- ``lazy``: lazy_exports
- ``legend``: CODES, LCZ_CLASSES, N_CLASSES, category_names, gdal_color_entries, lcz_class, matplotlib_cmap, normalize_codes, qml_paletted
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ALIGN": "aligned_arrays",
        "aligned_empty": "aligned_arrays",
        "is_aligned": "aligned_arrays",
        "dlpack_ready": "aligned_arrays",
        "DiskFull": "atomic",
        "PARTIAL": "atomic",
        "StagedOutputs": "atomic",
        "Terminated": "atomic",
        "atomic_output": "atomic",
        "check_distinct_paths": "atomic",
        "check_output_path": "atomic",
        "hold_interrupt": "atomic",
        "output_name": "atomic",
        "quiet_close": "atomic",
        "replace_together": "atomic",
        "same_file": "atomic",
        "staged_outputs": "atomic",
        "swap_in": "atomic",
        "terminate_like_interrupt": "atomic",
        "write_text_atomic": "atomic",
        "Environment": "dependencies",
        "InstallResult": "dependencies",
        "Need": "dependencies",
        "add_to_path": "dependencies",
        "check_imports": "dependencies",
        "constraints_file": "dependencies",
        "constraints_text": "dependencies",
        "environment": "dependencies",
        "install": "dependencies",
        "is_installed": "dependencies",
        "missing": "dependencies",
        "move_in": "dependencies",
        "numpy_version": "dependencies",
        "pip_error": "dependencies",
        "run_pip": "dependencies",
        "target_dir": "dependencies",
        "Filter": "enums",
        "Framework": "enums",
        "Format": "enums",
        "Scale": "enums",
        "Sensor": "enums",
        "StrEnum": "enums",
        "codes": "enums",
        "Prefetcher": "background",
        "in_reader_thread": "background",
        "DN_SCALE": "bands",
        "DN_THRESHOLD": "bands",
        "INVALID_VALUES": "bands",
        "PATCH_SIZE": "bands",
        "SEN1_CHANNELS": "bands",
        "SEN1_VALUE_LIMIT": "bands",
        "SEN2_BANDS": "bands",
        "SEN2_VALUE_LIMIT": "bands",
        "SENSORS": "bands",
        "channel_limits": "bands",
        "parse_bands": "bands",
        "patches_in_range": "bands",
        "range_note": "bands",
        "sensor_channels": "bands",
        "sensor_for_channel_count": "bands",
        "value_limit": "bands",
        "Cancelled": "errors",
        "LczError": "errors",
        "MissingDependency": "errors",
        "check_seed": "errors",
        "first_line": "errors",
        "require": "errors",
        "check_input_file": "input_files",
        "is_virtual": "input_files",
        "Interpreter": "python_exe",
        "candidates": "python_exe",
        "check_python": "python_exe",
        "find_python": "python_exe",
        "guard_tensorflow_import": "tensorflow_import",
        "system_protobuf_mapped": "tensorflow_import",
        "ConsoleFeedback": "feedback",
        "Feedback": "feedback",
        "RecordingFeedback": "feedback",
        "lazy_exports": "lazy",
        "CODES": "legend",
        "LCZ_CLASSES": "legend",
        "N_CLASSES": "legend",
        "category_names": "legend",
        "gdal_color_entries": "legend",
        "lcz_class": "legend",
        "matplotlib_cmap": "legend",
        "normalize_codes": "legend",
        "qml_paletted": "legend",
    },
)
