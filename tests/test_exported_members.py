"""The public names of anchorframe, derived from what the package binds (as httpx's test does)."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import anchorframe as af

#: Dunder names that are public on purpose.
PUBLIC_DUNDERS = {"__version__"}


def bound_public_names() -> set[str]:
    """The names ``import anchorframe`` binds that a user may rely on.

    Leaves out private names and submodules that importing from them binds as a side
    effect (``af.backends`` after ``from .backends import LocalBackend``); a submodule
    listed in ``__all__`` (``af.extract``) is public.
    """
    names = set()
    for name, value in vars(af).items():
        if name in PUBLIC_DUNDERS:
            names.add(name)
        elif name.startswith("_") or (isinstance(value, types.ModuleType) and name not in af.__all__):
            continue
        else:
            names.add(name)
    return names


def lazy_names() -> set[str]:
    """Names in ``__all__`` that the package's ``__getattr__`` loads on first use."""
    return set(af.__all__) - set(vars(af))


def test_all_is_exactly_the_public_names_bound():
    """A public name added to the package without __all__ (or the reverse) fails here."""
    assert len(af.__all__) == len(set(af.__all__)), "__all__ lists a name twice"
    unlisted = bound_public_names() - set(af.__all__)
    assert not unlisted, f"public in anchorframe but missing from __all__: {sorted(unlisted)}"
    for name in lazy_names():  # not bound yet: the package's __getattr__ must provide it
        assert af.__getattr__(name) is getattr(af, name)


def test_lazy_names_are_loaded_on_first_use_and_not_on_import():
    """The cloud client (httpx) and the emulator's web stack load on first use, not on import."""
    heavy = ("httpx", "starlette", "uvicorn")
    code = (
        "import sys, anchorframe as af\n"
        f"heavy = {heavy!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "lazy = sorted(set(af.__all__) - set(vars(af)))\n"
        "print(lazy)\n"
        "for name in lazy:\n"
        "    getattr(af, name)\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    on_import, lazy, after_use = done.stdout.splitlines()
    assert on_import == "[]", f"`import anchorframe` imported {on_import}"
    assert lazy == str(sorted(af._LAZY)) and after_use == str(list(heavy))


@pytest.mark.parametrize("name", sorted(set(af.__all__) - PUBLIC_DUNDERS))
def test_each_public_name_is_defined_in_anchorframe_and_documented(name):
    """Nothing is re-exported from another library, and every public name has a docstring."""
    value = getattr(af, name)
    home = value.__name__ if isinstance(value, types.ModuleType) else value.__module__
    assert home == "anchorframe" or home.startswith("anchorframe."), f"af.{name} comes from {home}"
    # __doc__, not inspect.getdoc: a class without a docstring must not pass on its base's.
    assert (value.__doc__ or "").strip(), f"af.{name} has no docstring"


def test_version_is_a_normalized_pep440_version():
    """__version__ is what packaging tools will publish, unchanged by their normalization."""
    from packaging.version import Version

    assert str(Version(af.__version__)) == af.__version__


def test_dir_shows_the_public_names_only():
    """dir(anchorframe), what tab completion lists, holds __all__ and nothing private."""
    assert dir(af) == sorted(af.__all__)
    assert not [name for name in dir(af) if name.startswith("_") and name not in PUBLIC_DUNDERS]
