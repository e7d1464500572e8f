"""TensorFlow inside programs that link a system protobuf (QGIS on Linux).

QGIS's executables (``qgis``, ``qgis_process``) link GDAL, and GDAL links Debian's
``libprotobuf-lite``, so that library's symbols are global in the process. TensorFlow
carries its own protobuf; when its libraries load, the dynamic linker binds part of their
protobuf calls to the system copy, and TensorFlow 2.21 then registers its descriptors twice
and aborts the whole program ("File already exists in database", Debian 13 / QGIS 3.40).
Plain Python is not affected: there GDAL's libraries are loaded locally.

:func:`guard_tensorflow_import` makes the first ``import tensorflow`` (direct, or through
``keras`` or ``tf2onnx``) load TensorFlow's libraries with ``RTLD_DEEPBIND``, so they bind
to their own symbols first. It does nothing where it is not needed (no system protobuf in
the process, TensorFlow already imported, or a platform without ``RTLD_DEEPBIND``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

__all__ = ["guard_tensorflow_import", "system_protobuf_mapped"]


def system_protobuf_mapped(maps: str = "/proc/self/maps") -> bool:
    """Whether a protobuf library from outside Python's packages is loaded in the process
    (``maps``: the process's memory map, Linux only; False where it cannot be read)."""
    try:
        with open(maps, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return any("/libprotobuf" in line and "-packages/" not in line for line in lines)


class _DeepBindLoader(importlib.abc.Loader):
    """Runs another loader with ``RTLD_DEEPBIND`` added to the dlopen flags."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        flags = sys.getdlopenflags()
        sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
        # the module keeps its own loader (importlib.resources and TensorFlow's lazy
        # loaders ask it), only this first execution runs under the flag
        module.__loader__ = module.__spec__.loader = self._loader
        try:
            self._loader.exec_module(module)
        finally:
            sys.setdlopenflags(flags)


class _TensorflowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the path finder does and wraps its loader, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        _remove_finder()
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _DeepBindLoader(spec.loader)
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TensorflowFinder)]


def guard_tensorflow_import(maps: str = "/proc/self/maps") -> bool:
    """Make the first ``import tensorflow`` in this process safe beside a system
    protobuf; returns whether the guard was installed."""
    if "tensorflow" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        return False
    if not system_protobuf_mapped(maps):
        return False
    _remove_finder()
    sys.meta_path.insert(0, _TensorflowFinder())
    return True
