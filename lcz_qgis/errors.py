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
            f"`python3 -m pip install {package}`, then restart QGIS."
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
