"""The runnable examples in the package's docstrings pass (like --doctest-modules).

Every module of python/proof_messenger is imported and its doctests run,
including the docstrings of the extension's classes, which the package
re-exports under its own name. `__main__` modules are skipped, as pytest's
--doctest-modules does: importing one starts a program.

Only the modules that carry examples are parametrized (each must run at least
one); the modules without any are listed in ``MODULES_WITHOUT_EXAMPLES`` and
checked by ``test_modules_without_examples``, so a module that loses (or gains)
its examples changes a visible list instead of passing silently.
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
_FINDER = doctest.DocTestFinder()


def example_count(name: str) -> int:
    """How many runnable examples (not ``+SKIP``) the docstrings of module `name` carry."""
    tests = _FINDER.find(importlib.import_module(name), name)
    return sum(1 for t in tests for ex in t.examples if not ex.options.get(doctest.SKIP))


EXAMPLES = {name: example_count(name) for name in MODULES}
MODULES_WITH_EXAMPLES = [name for name in MODULES if EXAMPLES[name] > 0]

# Modules whose docstrings have no runnable example (nothing for doctest to run).
MODULES_WITHOUT_EXAMPLES = [
    "proof_messenger._core",
    "proof_messenger.auditlog",
    "proof_messenger.auditlog.cli",
    "proof_messenger.auditlog.store",
    "proof_messenger.auditlog.witness",
    "proof_messenger.cli",
    "proof_messenger.integrations",
    "proof_messenger.integrations.decorator",
    "proof_messenger.integrations.fastapi",
    "proof_messenger.relay",
    "proof_messenger.relay.audit",
    "proof_messenger.relay.cli",
    "proof_messenger.relay.engine",
    "proof_messenger.relay.engine.counters",
    "proof_messenger.relay.engine.engine",
    "proof_messenger.relay.engine.job",
    "proof_messenger.relay.engine.runner",
    "proof_messenger.relay.engine.trust",
    "proof_messenger.relay.http",
    "proof_messenger.relay.http.admission",
    "proof_messenger.relay.http.bodies",
    "proof_messenger.relay.http.connections",
    "proof_messenger.relay.http.middleware",
    "proof_messenger.relay.http.openapi",
    "proof_messenger.relay.http.routes",
    "proof_messenger.relay.http.routes.audit",
    "proof_messenger.relay.http.routes.challenges",
    "proof_messenger.relay.http.routes.clients",
    "proof_messenger.relay.http.routes.demo",
    "proof_messenger.relay.http.routes.keys",
    "proof_messenger.relay.http.routes.ops",
    "proof_messenger.relay.http.routes.webauthn",
    "proof_messenger.relay.http.schemas",
    "proof_messenger.relay.http.verify",
    "proof_messenger.relay.stores",
]


def run_doctests(module: ModuleType) -> doctest.TestResults:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    return runner.summarize(verbose=False)


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_module_doctests(name: str) -> None:
    results = run_doctests(importlib.import_module(name))
    assert results.attempted > 0, f"no example ran in {name}"
    assert results.attempted == EXAMPLES[name], (results.attempted, EXAMPLES[name])
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {name}"


def test_modules_without_examples() -> None:
    """The modules that run no doctest, listed: update the list when examples are added or lost."""
    without = [name for name in MODULES if EXAMPLES[name] == 0]
    assert without == MODULES_WITHOUT_EXAMPLES
    assert len(MODULES_WITH_EXAMPLES) + len(without) == len(MODULES)


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
