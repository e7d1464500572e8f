"""Exceptions the core raises. Front ends turn them into user messages.

``LczError`` is bad input or a state the user can fix: the CLI prints its message
on one line and exits 2; Processing raises ``QgsProcessingException`` with it.
"""


class LczError(Exception):
    """Bad input or a condition the user can fix; the message says what and how."""


class MissingDependency(LczError):
    def __init__(self, package: str, purpose: str):
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed "
            f"in this Python. Install it (see the README, 'Dependencies'), for example "
            f"`python3 -m pip install {package}`, then restart QGIS. If it is installed in "
            "the project's .venv, make it visible: `make deploy` for QGIS desktop, "
            "PYTHONPATH=<repo>/.venv/lib/python3.X/site-packages for qgis_process."
        )
        self.package = package


class Cancelled(Exception):
    """The user cancelled; outputs were not written."""


def require(module: str, package: str, purpose: str):
    """Import ``module`` or raise MissingDependency naming the pip package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(package, purpose) from exc


MAX_SEED = 2**32 - 1  # numpy's legacy seeding (used by Keras) takes 0 .. 2**32 - 1


def check_seed(seed) -> int:
    """The seed as an int, or LczError when it is not a whole number 0 .. MAX_SEED."""
    try:
        value = int(seed)
        whole = value == seed
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or not 0 <= value <= MAX_SEED:
        raise LczError(f"the random seed must be a whole number from 0 to {MAX_SEED}; got {seed}")
    return value
