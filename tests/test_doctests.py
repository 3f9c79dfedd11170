"""The runnable examples in the package's docstrings pass (like --doctest-modules).

Every module of python/proof_messenger is imported and its doctests run,
including the docstrings of the extension's classes, which the package
re-exports under its own name. `__main__` modules are skipped, as pytest's
--doctest-modules does: importing one starts a program.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import proof_messenger
import pytest


def package_modules() -> list[str]:
    names = [proof_messenger.__name__]
    for info in pkgutil.walk_packages(proof_messenger.__path__, proof_messenger.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.append(info.name)
    return sorted(names)


MODULES = package_modules()


def run_doctests(module: ModuleType) -> doctest.TestResults:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name: str) -> None:
    results = run_doctests(importlib.import_module(name))
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {name}"


def test_core_api_has_examples() -> None:
    """The top-level API (package, _api, errors, key classes) actually carries runnable examples."""
    attempted = {
        name: run_doctests(importlib.import_module(name)).attempted
        for name in ("proof_messenger", "proof_messenger._api", "proof_messenger.errors")
    }
    assert all(count > 0 for count in attempted.values()), attempted
    finder = doctest.DocTestFinder()
    names = {t.name for t in finder.find(proof_messenger, "proof_messenger")}
    assert {"proof_messenger.SigningKey", "proof_messenger.VerifyingKey"} <= names, names
