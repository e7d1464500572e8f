"""Lazy public names for the core's subpackages (PEP 562), so importing a package is
cheap and never imports its modules' dependencies until a name is used."""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, names: dict[str, str]):
    """Return ``(__getattr__, __dir__, __all__)`` for ``package``.

    Args:
        package: the package's ``__name__``.
        names: public name -> the package's module that defines it.

    Returns:
        The module-level ``__getattr__`` and ``__dir__`` functions and the ``__all__`` list.
    """

    def __getattr__(name: str):  # noqa: N807 - the module hook PEP 562 names
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:  # noqa: N807 - the module hook PEP 562 names
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
