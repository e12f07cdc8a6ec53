"""Rendering the Kustomize folders with the machine's `kubectl kustomize`. Missing, the tests
that need it skip with the line saying what to install — except in CI (CI=true), where a
missing kubectl fails the run: the deployment is never silently left unchecked there."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
INSTALL_HINT = (
    "install kubectl 1.21 or later (its built-in kustomize renders the overlays), "
    "or set FASTHOOK_KUBECTL=/path/to/kubectl: see the Makefile's `kubectl` target"
)

# Every folder an operator applies with `kubectl apply -k`.
OVERLAYS = (
    "base",
    "overlays/dev",
    "overlays/production",
    "network-policies",
    "platform",
    "monitoring",
)


def kubectl_path() -> str | None:
    return os.environ.get("FASTHOOK_KUBECTL") or shutil.which("kubectl")


@functools.cache
def render(folder: str) -> tuple[dict[str, Any], ...]:
    """The documents `kubectl kustomize deploy/kubernetes/<folder>` prints."""
    kubectl = kubectl_path()
    assert kubectl is not None
    built = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return tuple(d for d in yaml.safe_load_all(built.stdout) if d)


@pytest.fixture(scope="session")
def kustomize() -> Any:
    if kubectl_path() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no kubectl to render deploy/kubernetes: {INSTALL_HINT}")
        pytest.skip(f"no kubectl: {INSTALL_HINT}")
    return render


def of_kind(documents: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    """The documents of one kind, by name."""
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}
