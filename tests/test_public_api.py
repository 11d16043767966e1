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


def test_exported_members_are_public_and_documented() -> None:
    """Like httpx's exported-members test: each name is defined in vtalab, under a public
    module, and carries a docstring (classes and functions)."""
    for name in vtalab.__all__:
        if name.startswith("__") or name in ("VERBS", "FAULTS"):
            continue
        member = getattr(vtalab, name)
        module = getattr(member, "__module__", "")
        assert module.startswith("vtalab."), (name, module)
        assert not any(part.startswith("_") for part in module.split(".")), (name, module)
        assert (member.__doc__ or "").strip(), f"{name} has no docstring"


def test_registries_are_full_on_a_plain_import() -> None:
    """`import vtalab` alone fills the registries (in a fresh interpreter, nothing else
    imported first)."""
    import subprocess
    import sys

    code = ("import vtalab, json; print(json.dumps([sorted(vtalab.VERBS), "
            "sorted(vtalab.FAULTS)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    import json

    verbs, faults = json.loads(done.stdout)
    assert verbs == sorted(vtalab.VERBS) and faults == sorted(vtalab.FAULTS)
    assert len(verbs) >= 40 and len(faults) >= 8


def test_every_verb_and_fault_is_complete_and_in_the_reference() -> None:
    """Each entry says what it does and where it comes from, and the generated reference
    (docs/verbs.md, docs/faults.md, the same renderer as `vtalab verbs --markdown`) lists it."""
    from vtalab.world.reference import registry_markdown

    verbs_md, faults_md = registry_markdown("verbs"), registry_markdown("faults")
    for table, doc in ((vtalab.VERBS, verbs_md), (vtalab.FAULTS, faults_md)):
        assert table
        for name, entry in table.items():
            assert entry.name == name and entry.summary.strip(), name
            assert f"| `{name}` |" in doc, name
            if entry.kind == "powercli":
                assert entry.source.strip(), f"{name}: a cmdlet must cite its source"
            if entry.kind == "fault":
                assert entry.stands_for.strip(), f"{name}: a fault says what it stands for"
