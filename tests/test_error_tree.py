"""The one error tree: every error the package raises on purpose sits under PipelineError, in
the transient, permanent or auth branch its retry policy needs, and the tree is drawn."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import dagster as dg
import pytest

from microcks_pipeline.core import errors, yamlio
from microcks_pipeline.microcks import errors as microcks_errors
from microcks_pipeline.store import StoreNotMigrated, StoreUnavailable

PACKAGE = Path(errors.__file__).parents[1]

BRANCHES = {
    "MicrocksRejected": errors.PermanentError,
    "MicrocksNoService": errors.PermanentError,
    "StoreNotMigrated": errors.PermanentError,
    "YamlError": errors.PermanentError,
    "MicrocksUnreachable": errors.TransientError,
    "MicrocksBusy": errors.TransientError,
    "MicrocksTimeout": errors.TransientError,
    "StoreUnavailable": errors.TransientError,
}


@pytest.mark.parametrize("name,branch", sorted(BRANCHES.items()))
def test_microcks_store_and_yaml_errors_join_their_branch_of_the_one_tree(name, branch):
    cls = getattr(errors, name)
    assert issubclass(cls, branch) and issubclass(cls, errors.PipelineError)


def test_old_import_locations_re_export_the_same_classes():
    assert microcks_errors.MicrocksUnreachable is errors.MicrocksUnreachable
    assert microcks_errors.MicrocksBusy is errors.MicrocksBusy
    assert StoreUnavailable is errors.StoreUnavailable
    assert StoreNotMigrated is errors.StoreNotMigrated
    assert yamlio.YamlError is errors.YamlError


def test_the_docstring_draws_every_error_class_of_the_tree():
    classes = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.PipelineError)
    }
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or "")) | {"PipelineError"}
    assert classes == drawn


def test_every_exception_class_of_the_package_descends_from_pipeline_error():
    stray = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "microcks_pipeline."):
        if info.name.startswith(("microcks_pipeline.localserver", "microcks_pipeline.cli")):
            continue  # the local Microcks stand-in and the CLI's own control flow
        # (dg.Failure subclasses are Dagster's signal of a failed step, made from these errors)
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == module.__name__
                and issubclass(obj, BaseException)
                and not issubclass(obj, errors.PipelineError | dg.Failure)
            ):
                stray.append(f"{info.name}.{name}")
    assert stray == []


def test_retry_after_is_a_typed_attribute_of_the_transient_branch_only():
    assert errors.TransientError.__annotations__["retry_after"] == "float | None"
    busy = errors.MicrocksBusy("Microcks answered HTTP 429", status=429, retry_after=7.0)
    assert busy.retry_after == 7.0
    assert errors.StoreUnavailable("db down").retry_after is None
    assert not hasattr(errors.AuthError("refused"), "retry_after")


def test_no_module_reads_retry_after_with_getattr():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if re.search(r"getattr\([^)]*retry_after", p.read_text())
    ]
    assert offenders == []


def test_a_malformed_yaml_file_is_a_permanent_pipeline_error_with_its_line():
    with pytest.raises(errors.PermanentError) as caught:
        yamlio.load_one("a: [1, 2\nb: c\n")
    assert isinstance(caught.value, errors.YamlError) and caught.value.line is not None
