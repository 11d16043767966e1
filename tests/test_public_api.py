"""The public API is pinned: removing or renaming a name must be a deliberate change."""

from __future__ import annotations

import vtalab

PUBLIC = {
    "BaseImageSpec", "FAULTS", "VERBS", "InputError", "Kernel", "KmsSpec", "OperationError",
    "Outcome", "Tpm2SettingsSpec",
    "Parameters", "ReplayError", "ScenarioError", "TaClusterSpec", "TaHostSpec", "Topology",
    "TpmSpec", "TrustedClusterSpec", "TrustedHostSpec", "VmSpec", "VtalabError", "World",
    "__version__",
}


def test_public_names_are_pinned() -> None:
    assert set(vtalab.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(vtalab, name)


def test_exception_tree() -> None:
    assert issubclass(vtalab.ScenarioError, vtalab.InputError)
    assert issubclass(vtalab.OperationError, vtalab.InputError)
    assert issubclass(vtalab.InputError, vtalab.VtalabError)
    assert issubclass(vtalab.ReplayError, vtalab.VtalabError)
