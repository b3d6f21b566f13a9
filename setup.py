"""Package layout that pyproject.toml cannot express: the report templates stay in ``reports/templates/``
at the repository root and ship inside the package as ``auditor/templates/`` (real files in the sdist and
the wheel; no symlink). Everything else (package data too) is configured in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["auditor", "auditor.*"]), "auditor.templates"],
    package_dir={"auditor.templates": "reports/templates"},
)
