"""TensorFlow beside a system protobuf (common/tensorflow_import.py).

QGIS's programs link GDAL and through it Debian's libprotobuf-lite, whose symbols are then
global; on Debian 13 (TensorFlow 2.21) ``import tensorflow`` aborted the whole of
``qgis_process``. ``LD_PRELOAD`` of that library makes a plain Python process the same, so
the real import is tried here in both ways; ``tests/raster/test_one_gdal.py`` and
``tests/models/test_pretrained_import.py`` run TensorFlow inside ``qgis_process`` itself.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from lcz_qgis.common.tensorflow_import import guard_tensorflow_import, system_protobuf_mapped

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_PROTOBUF = sorted(glob.glob("/usr/lib/*-linux-gnu/libprotobuf-lite.so.*[0-9]"))


def test_a_system_protobuf_is_seen_in_the_memory_map(tmp_path):
    maps = tmp_path / "maps"
    tf_own = "7f00-7f01 r-xp 0 fe:00 1 /venv/lib/python3.11/site-packages/tensorflow/libtf.so"
    maps.write_text(tf_own + "\n7f02-7f03 r--p 0 fe:00 2 /usr/lib/x86_64-linux-gnu/libgdal.so\n")
    assert not system_protobuf_mapped(str(maps))
    wheel = "7f04 r--p 0 fe:00 3 /venv/lib/python3.11/dist-packages/x/libprotobuf.so.3"
    maps.write_text(tf_own + "\n" + wheel + "\n")
    assert not system_protobuf_mapped(str(maps))  # a package's own copy is local to it
    maps.write_text(tf_own + "\n7f05 r-xp 0 fe:00 4 /lib/x86_64-linux-gnu/libprotobuf-lite.so.32\n")
    assert system_protobuf_mapped(str(maps))
    assert not system_protobuf_mapped(str(tmp_path / "missing"))


def test_the_guard_stays_out_where_it_is_not_needed(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00 r-xp 0 fe:00 1 /usr/lib/x86_64-linux-gnu/libgdal.so.32\n")
    before = list(sys.meta_path)
    assert guard_tensorflow_import(str(maps)) is (False)
    assert sys.meta_path == before


_PROBE = """
import os, sys
sys.path.insert(0, {root!r})
flags = sys.getdlopenflags()
if {guard}:
    from lcz_qgis.common.tensorflow_import import guard_tensorflow_import
    assert guard_tensorflow_import() is True
import keras, numpy as np
m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
p = m.predict(np.ones((2, 3), "float32"), verbose=0)
import tensorflow as tf
assert sys.getdlopenflags() == flags, "dlopen flags left changed"
assert type(tf.__loader__).__name__ == "SourceFileLoader", tf.__loader__
assert not [f for f in sys.meta_path if "Tensorflow" in type(f).__name__], sys.meta_path
print("PROBABILITIES", p.shape, round(float(p.sum()), 4))
"""


@pytest.mark.skipif(not SYSTEM_PROTOBUF, reason="no system libprotobuf-lite on this machine")
def test_tensorflow_imports_and_predicts_beside_a_global_system_protobuf():
    pytest.importorskip("tensorflow")
    env = {**os.environ, "LD_PRELOAD": SYSTEM_PROTOBUF[-1], "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = _PROBE.format(root=ROOT, guard=True)
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "PROBABILITIES (2, 4) 2.0" in r.stdout
