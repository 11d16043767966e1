"""Every tunable number of the simulated world, with its default and where it comes from.

The public record is silent on most timings of vSphere Trust Authority (token lifetime,
re-attestation period, polling period, boot durations ...). Each is a parameter here, with
a default and an ``assumed`` flag; ``docs/parameters.md`` is generated from this model,
and a scenario's ``parameters:`` block overrides any of them by name.

**Ranges.** A parameter is a finite number (no ``.inf``, no ``nan``) inside a range that
depends on what it is, so a typo cannot freeze or hang the lab:

- a *duration* of one operation (a boot, a vMotion ...) is 0 s to one day;
- a *period* or *lifetime* (token lifetime, re-attestation period ...) is 1 s to the lab's
  horizon (:data:`vtalab.core.simtime.HORIZON_SECONDS`): never 0, or kmxa would re-attest in a
  loop without simulated time passing; whole seconds matter because tokens carry integer
  ``iat``/``exp`` claims;
- a *retry delay* of kmxa is 1 s to one day;
- a certificate *validity* is 1 day to 100 years.

Two rules tie parameters together (:data:`RULES`): kmxa renews a token
``renew_before_expiry_seconds`` before it expires, so that must be less than the token's
lifetime; and the first retry delay cannot exceed the retry cap.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vtalab.core.limits import limits_markdown
from vtalab.core.simtime import HORIZON_SECONDS

__all__ = ["MAX_OPERATION_SECONDS", "MAX_VALIDITY_DAYS", "POLICIES", "RULES",
           "TA_CHANGE_NOTICE", "Parameters", "parameters_markdown", "range_text"]

#: The longest one operation (a boot, a vMotion, a retry delay) may be set to take.
MAX_OPERATION_SECONDS = 86400.0
#: The longest certificate validity (100 years: dates stay well inside what X.509 allows).
MAX_VALIDITY_DAYS = 36500.0

#: The rules that tie parameters together, as the docs state them.
RULES = (
    "`renew_before_expiry_seconds` < `token_lifetime_seconds` (otherwise kmxa would renew "
    "every token as soon as it gets it)",
    "`retry_initial_seconds` <= `retry_max_seconds` (the backoff starts below its cap)",
)


#: How a trusted host learns that the TA cluster's trusted objects changed (see
#: :attr:`Parameters.ta_change_notice` and the "TA-side changes" section of the docs).
TA_CHANGE_NOTICE = ("next_reattest", "immediate")

#: Parameters that choose a behaviour rather than a number: name -> the values allowed.
POLICIES: dict[str, tuple[str, ...]] = {"ta_change_notice": TA_CHANGE_NOTICE,
                                         "unsafe_clock_policy": ("report", "reject"),
                                         "key_release_policy": ("token", "latest_verdict")}


def _field(default: float, description: str, *, low: float, high: float, assumed: bool,
           unit: str) -> Any:
    return Field(default, description=description, ge=low, le=high, allow_inf_nan=False,
                 json_schema_extra={"assumed": assumed, "unit": unit})


def _op(default: float, description: str, *, assumed: bool = True) -> Any:
    """A duration of one operation: 0 s to one day."""
    return _field(default, description, low=0, high=MAX_OPERATION_SECONDS, assumed=assumed,
                  unit="s")


def _period(default: float, description: str, *, assumed: bool = True) -> Any:
    """A period or lifetime: 1 s to the lab's horizon."""
    return _field(default, description, low=1, high=HORIZON_SECONDS, assumed=assumed,
                  unit="s")


def _retry(default: float, description: str, *, assumed: bool = True) -> Any:
    """A retry delay: 1 s to one day."""
    return _field(default, description, low=1, high=MAX_OPERATION_SECONDS, assumed=assumed,
                  unit="s")


def _policy(default: str, description: str, *, assumed: bool = True) -> Any:
    """A policy: one of a few named choices (the annotation's ``Literal``)."""
    return Field(default, description=description,
                 json_schema_extra={"assumed": assumed, "unit": "policy"})


def _days(default: float, description: str, *, assumed: bool = True) -> Any:
    """A certificate validity: 1 day to 100 years."""
    return _field(default, description, low=1, high=MAX_VALIDITY_DAYS, assumed=assumed,
                  unit="days")


class Parameters(BaseModel):
    """Timings and policies of the simulated estate (seconds unless stated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full_boot_seconds: float = _op(
        540, "Power-on to ESXi up for a full (cold) boot: firmware POST, bootloader, ESXi.")
    quick_boot_seconds: float = _op(
        150, "Quick Boot (loadESX): ESXi restarts without firmware/POST.")
    shutdown_seconds: float = _op(60, "Orderly ESXi shutdown before a reboot or power-off.")
    maintenance_mode_seconds: float = _op(30, "Entering maintenance mode (VMs already moved).")
    upgrade_stage_seconds: float = _op(
        300, "Staging an upgrade/patch into the alternate boot bank (before the reboot).")
    service_restart_seconds: float = _op(5, "Stopping/starting attestd, kmxd or kmxa.")
    token_lifetime_seconds: float = _period(
        86400, "Lifetime of the KMS_AUTH_JWT the Attestation Service issues (exp - iat).")
    reattest_period_seconds: float = _period(
        3600, "How often kmxa re-attests a trusted host while it holds a valid token.")
    renew_before_expiry_seconds: float = _field(
        600, "kmxa renews the token at least this long before it expires.", low=0,
        high=HORIZON_SECONDS, assumed=True, unit="s")
    retry_initial_seconds: float = _retry(
        30, "kmxa's first retry delay after an unreachable attestation service.")
    retry_max_seconds: float = _retry(600, "kmxa's retry delay cap (exponential backoff x2).")
    failed_reattest_seconds: float = _period(
        300, "How often kmxa re-attests a host whose last attestation failed.")
    host_assertion_lifetime_seconds: float = _period(
        600, "Lifetime of the token by which the workload vCenter vouches for a host in its "
        "attestation request (checked by attestd against the imported STS certificates).")
    nonce_lifetime_seconds: float = _period(
        120, "How long a nonce the Attestation Service issues stays valid: the host must "
        "present its quote over it within this time, once (a nonce is single use and bound "
        "to the host that asked for it).")
    unsafe_clock_policy: Literal["report", "reject"] = _policy(
        "report", "What attestd does with a quote whose clockInfo.safe is 0 (the TPM's Clock "
        "may have gone back since it was last reported): `report` keeps it as a warning in "
        "the verdict, `reject` refuses the quote (quote_clock_unsafe). The default follows "
        "Keylime, whose verifier never judges clockInfo.")
    key_release_policy: Literal["token", "latest_verdict"] = _policy(
        "token", "What kmxd needs to release a key: `token` (vTA's documented rule: a valid, "
        "unexpired KMS_AUTH_JWT) or `latest_verdict` (a what-if: also the latest verdict of "
        "the attestation services of its group on the host must not be notAttested).",
        assumed=False)
    vm_power_on_seconds: float = _op(5, "Powering on a VM once its keys are available.")
    vm_encrypt_seconds: float = _op(
        1, "Reconfiguring a powered-off VM to encrypt it, once its key is available.")
    vmotion_seconds: float = _op(30, "A vMotion of one VM.")
    remediate_seconds: float = _op(20, "Set-TrustedCluster -Remediate pushing config to a host.")
    vcenter_services_restart_seconds: float = _op(
        1200, "Installing a vCenter Server update or upgrade: the time its services are "
        "down (API, Recent Tasks and events unavailable; attestation and key release, which "
        "go host to host, keep working).")
    ta_change_notice: Literal["next_reattest", "immediate"] = Field(
        "next_reattest", description=(
            "When a trusted host notices a change on the TA side (base image, principal, TPM "
            "CA or EK, attestation settings, key provider imported or removed): "
            "`next_reattest` = at its next scheduled attestation (`reattest_period_seconds` "
            "while attested, `failed_reattest_seconds` after a failure); `immediate` = every "
            "trusted host re-attests the moment the change is applied. See \"TA-side "
            "changes\" below."),
        json_schema_extra={"assumed": True, "unit": "policy"})
    certificate_validity_days: float = _days(
        730, "Validity of simulated service, KMS and STS certificates.")
    tpm_ca_validity_days: float = _days(
        7300, "Validity of the simulated TPM vendor CA and EK certificates.")

    @model_validator(mode="after")
    def _consistent(self) -> Parameters:
        if self.renew_before_expiry_seconds >= self.token_lifetime_seconds:
            raise ValueError(
                f"renew_before_expiry_seconds ({self.renew_before_expiry_seconds:g}) must be "
                f"less than token_lifetime_seconds ({self.token_lifetime_seconds:g}): kmxa "
                "renews a token that long before it expires")
        if self.retry_initial_seconds > self.retry_max_seconds:
            raise ValueError(
                f"retry_initial_seconds ({self.retry_initial_seconds:g}) must not exceed "
                f"retry_max_seconds ({self.retry_max_seconds:g}), the cap of kmxa's backoff")
        return self


#: Why ``ta_change_notice`` defaults to ``next_reattest`` (rendered in docs/parameters.md).
TA_CHANGE_NOTICE_DOC = (
    "A change on the TA side (a base image imported or removed, a principal, TPM CA or EK, "
    "the TPM 2.0 attestation settings, a key provider) is applied to every TA host at once. "
    "Whether the trusted hosts then re-attest at once is **not in the public record**: the "
    "vSphere Security guide (\"Upgrading and Patching vSphere Trust Authority\", "
    "docs.vmware.com/en/VMware-vSphere/8.0/vsphere-security/"
    "GUID-B9ADFD5A-EF26-4D4C-8FA3-084F72DDB0FC.html), the seed page, the vSphere API "
    "reference (`HostTrustAuthorityAttestationInfo`: `attestedAt`, `attestedUntil`, no "
    "push or refresh method) and the Trust Authority REST API (no \"re-attest\" operation "
    "on trusted hosts or clusters) say nothing about the Attestation Service notifying "
    "trusted hosts, and nothing we found in community write-ups or issue trackers does "
    "either. The attestation protocol is pull-only: the trusted host's kmxa asks, the "
    "Attestation Service answers. So the default, `next_reattest`, is the one the record "
    "supports: a host learns of a change the next time it attests on its own schedule "
    "(`reattest_period_seconds` while attested, `failed_reattest_seconds` after a failure, "
    "or when it boots, its kmxa restarts, or `Set-TrustedCluster -Remediate` pushes new "
    "configuration). Consequences the lab therefore shows: removing a base image still in "
    "use does **not** fail the hosts that use it until their next attestation, up to "
    "`reattest_period_seconds` later (the delay that makes the seed's Quick Boot warning "
    "dangerous: the mistake looks harmless for an hour); importing the missing image fixes "
    "failed hosts within `failed_reattest_seconds`. `immediate` is the lab's former "
    "behaviour, kept for teaching the effect without waiting; it is an assumption too.",
)


def _shown(value: float, unit: str) -> str:
    """``86400`` s as ``1 d``, ``34560000`` s as ``400 d``: readable range bounds."""
    if unit == "s" and value >= 86400 and value % 86400 == 0:
        return f"{value / 86400:g} d"
    return f"{value:g}" + (f" {unit}" if unit == "s" else "")


def range_text(name: str) -> str:
    """The valid range of parameter ``name``, as the docs show it: ``1 s – 400 d``."""
    if name in POLICIES:
        return " or ".join(f"`{v}`" for v in POLICIES[name])
    field = Parameters.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    unit = str(extra.get("unit", "s"))
    low = next(m.ge for m in field.metadata if getattr(m, "ge", None) is not None)
    high = next(m.le for m in field.metadata if getattr(m, "le", None) is not None)
    return f"{_shown(low, unit)} – {_shown(high, unit)}" + ("" if unit == "s" else f" {unit}")


def parameters_markdown() -> str:
    """The parameters table for ``docs/parameters.md`` (generated, do not edit by hand)."""
    lines = [
        "# Parameters",
        "",
        "Generated from `vtalab/parameters.py` by `vtalab docs`. *Assumed* means the public",
        "record gives no value: the default is ours, and a scenario may override it.",
        "",
        "| name | default | unit | range | assumed | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in Parameters.model_fields.items():
        extra = field.json_schema_extra or {}
        assert isinstance(extra, dict)
        default = field.default
        shown = (f"`{default}`" if isinstance(default, str)
                 else int(default) if float(default).is_integer() else default)
        lines.append(f"| `{name}` | {shown} | {extra.get('unit', 's')} | {range_text(name)} | "
                     f"{'yes' if extra.get('assumed') else 'no'} | {field.description} |")
    lines += [
        "",
        "Every value is a finite number within its range (`.inf`, `nan` and `1e300` are "
        "refused when the scenario is loaded). Periods and lifetimes are at least 1 s (never "
        "0: kmxa would re-attest without simulated time passing); the longest is the lab's "
        f"horizon, {HORIZON_SECONDS / 86400:g} days of simulated time, which no scenario "
        "goes beyond. Whatever the parameters, kmxa waits at least 1 s between two "
        "attestation attempts.",
        "",
        "Rules between parameters:",
        "",
        *(f"- {rule}" for rule in RULES),
        "",
        "## TA-side changes: when trusted hosts notice them",
        "",
        *TA_CHANGE_NOTICE_DOC,
        "",
        "Not a parameter of the world but of the scenario: `settle` (default 600 s, "
        "`vtalab.scenario.model.DEFAULT_SETTLE_SECONDS`), how long a run goes on after its last "
        "step and timed check before the end-of-run checks.",
        "",
        *limits_markdown(),
    ]
    return "\n".join(lines) + "\n"
