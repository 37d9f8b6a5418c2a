"""What the product's files may not do: guard behaviour with `assert`, or point outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess

from govkpi.settings import PROJECT_ROOT

PRODUCT_CODE = ("govkpi", "ingestion", "expectations", "dags", "benchmarks", "scripts")
# A path on the machine a file was written on, or a folder beside the checkout.
_OUTSIDE = re.compile(r"/work/|\.\./shared|(?<![\w/])shared/(?:seed|openlineage-spec|HOUSE_STYLE)")


def tracked(*folders: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--", *folders], cwd=PROJECT_ROOT, capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name]


def test_no_assert_guards_runtime_behaviour():
    """`python -O` removes asserts: a check the product relies on must be an `if` that raises."""
    modules = [name for name in tracked(*PRODUCT_CODE) if name.endswith(".py")]
    assert len(modules) > 40, "the scan found the product's modules"
    found = [
        f"{name}:{node.lineno}"
        for name in modules
        for node in ast.walk(ast.parse((PROJECT_ROOT / name).read_text(encoding="utf-8"), name))
        if isinstance(node, ast.Assert)
    ]
    assert not found, "assert statements in product code:\n" + "\n".join(found)


def test_no_product_file_refers_to_a_path_outside_the_repository():
    """A person who clones the repository must be able to follow every reference it makes."""
    files = [name for name in tracked(".") if not name.startswith("tests/")]
    assert len(files) > 200, "the scan found the repository's files"
    assert _OUTSIDE.search("see `/work/shared/seed/FACTS.md`") and _OUTSIDE.search("../shared/openlineage-spec")
    found = []
    for name in files:
        try:
            text = (PROJECT_ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue  # binary files (workbooks, GB18030 extracts)
        for number, line in enumerate(text.splitlines(), start=1):
            if _OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, "references to paths outside the repository:\n" + "\n".join(found)


def test_dbt_builds_into_the_schemas_govkpi_schemas_names():
    """Schema names live in govkpi/schemas.py; dbt_project.yml must name the same ones."""
    import yaml

    from govkpi import schemas

    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))

    def custom_schemas(config: dict) -> set[str]:
        found = {config["+schema"]} if "+schema" in config else set()
        for value in config.values():
            if isinstance(value, dict):
                found |= custom_schemas(value)
        return found

    named = custom_schemas(project["models"]) | custom_schemas(project["seeds"])
    assert named == set(schemas.DBT_SCHEMAS)
