"""``lcz upgrade-model``: a model file written again with the installed libraries.

A file written by an earlier release (a Keras 2 ``.lczmodel``, a random forest saved
with scikit-learn 1.2) or a plain notebook file (``.keras``, ``.h5``) is loaded, converted
on load where it must be (``engines.keras``, ``sklearn_compat``), and written as a new
``.lczmodel`` with the installed Keras or scikit-learn (and an ONNX graph where the
converters are installed). The new file is read back and must give the same
probabilities as the old one on probe windows (``TOLERANCE``) before it is moved into
place; the manifest records what it was upgraded from. The input is never modified.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import atomic_output, check_distinct_paths
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from .modelfile import SUFFIX, library_versions, load_model, save_network

TOLERANCE = 1e-5  # largest probability difference between the old and the new file


def upgrade_model_file(
    src, dst, sensor: str | None = None, feedback: Feedback | None = None
) -> dict:
    """Write the model file ``src`` again as the ``.lczmodel`` ``dst`` with the installed
    libraries, checked against ``src`` on probe windows.

    Args:
        src: the model file to upgrade (``.lczmodel``, ``.keras``, ``.h5``).
        dst: the new ``.lczmodel`` (never ``src``).
        sensor: for a plain Keras file, its sensor (default: from its channel count).
        feedback: progress and messages.

    Returns:
        {output, from, to, max_difference}: the versions before and after.

    Raises:
        LczError: a bad name, an unreadable model, or a new file that disagrees.
    """
    from .onnx_export import probe_windows

    feedback = feedback or Feedback()
    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() != SUFFIX:
        raise LczError(f"{param('OUTPUT')}: the upgraded model is written as an {SUFFIX} file; "
                       f"give a {SUFFIX} name, not '{dst.name}'")  # fmt: skip
    check_distinct_paths({param("INPUT"): src}, {param("OUTPUT"): dst})
    old = load_model(src, sensor=sensor)
    feedback.check_cancelled()
    feedback.progress(30)
    before = old.manifest.get("library_versions", {})
    manifest = {**old.manifest, "library_versions": library_versions(),
                "upgraded_from": {"file": src.name, "library_versions": before}}  # fmt: skip
    probes = probe_windows(old.manifest)
    want = old.predict_proba(probes)
    with atomic_output(dst) as tmp:
        save_network(tmp, old.framework, old.network, manifest)
        feedback.progress(70)
        got = load_model(tmp).predict_proba(probes)
        diff = float(np.max(np.abs(got - want))) if len(want) else 0.0
        if not diff <= TOLERANCE:
            raise LczError(f"the upgraded model differs from '{src.name}' by {diff:.2g} on probe "
                           f"windows (at most {TOLERANCE:g} allowed); nothing was written")  # fmt: skip
    feedback.progress(100)
    feedback.info(f"{src.name} upgraded to {dst.name}: probabilities within {diff:.1e} of "
                  "the original on probe windows")  # fmt: skip
    return {"output": str(dst), "from": before, "to": manifest["library_versions"],
            "max_difference": diff}  # fmt: skip
