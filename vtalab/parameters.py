"""Every tunable number of the simulated world, with its default and where it comes from.

The public record is silent on most timings of vSphere Trust Authority (token lifetime,
re-attestation period, polling period, boot durations ...). Each is a parameter here, with
a default and an ``assumed`` flag; ``docs/parameters.md`` is generated from this model,
and a scenario's ``parameters:`` block overrides any of them by name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Parameters", "parameters_markdown"]


def _p(default: float, description: str, *, assumed: bool = True, unit: str = "s") -> float:
    return Field(default, description=description, ge=0,
                 json_schema_extra={"assumed": assumed, "unit": unit})  # type: ignore[return-value]


class Parameters(BaseModel):
    """Timings and policies of the simulated estate (seconds unless stated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    full_boot_seconds: float = _p(
        540, "Power-on to ESXi up for a full (cold) boot: firmware POST, bootloader, ESXi.")
    quick_boot_seconds: float = _p(
        150, "Quick Boot (loadESX): ESXi restarts without firmware/POST.")
    shutdown_seconds: float = _p(60, "Orderly ESXi shutdown before a reboot or power-off.")
    maintenance_mode_seconds: float = _p(30, "Entering maintenance mode (VMs already moved).")
    upgrade_stage_seconds: float = _p(
        300, "Staging an upgrade/patch into the alternate boot bank (before the reboot).")
    service_restart_seconds: float = _p(5, "Stopping/starting attestd, kmxd or kmxa.")
    token_lifetime_seconds: float = _p(
        86400, "Lifetime of the KMS_AUTH_JWT the Attestation Service issues (exp - iat).")
    reattest_period_seconds: float = _p(
        3600, "How often kmxa re-attests a trusted host while it holds a valid token.")
    renew_before_expiry_seconds: float = _p(
        600, "kmxa renews the token at least this long before it expires.")
    retry_initial_seconds: float = _p(
        30, "kmxa's first retry delay after an unreachable attestation service.")
    retry_max_seconds: float = _p(600, "kmxa's retry delay cap (exponential backoff x2).")
    failed_reattest_seconds: float = _p(
        300, "How often kmxa re-attests a host whose last attestation failed.")
    vm_power_on_seconds: float = _p(5, "Powering on a VM once its keys are available.")
    vmotion_seconds: float = _p(30, "A vMotion of one VM.")
    remediate_seconds: float = _p(20, "Set-TrustedCluster -Remediate pushing config to a host.")
    certificate_validity_days: float = _p(
        730, "Validity of simulated service, KMS and STS certificates.", unit="days")
    tpm_ca_validity_days: float = _p(
        7300, "Validity of the simulated TPM vendor CA and EK certificates.", unit="days")


def parameters_markdown() -> str:
    """The parameters table for ``docs/parameters.md`` (generated, do not edit by hand)."""
    lines = [
        "# Parameters",
        "",
        "Generated from `vtalab/parameters.py` by `vtalab docs`. *Assumed* means the public",
        "record gives no value: the default is ours, and a scenario may override it.",
        "",
        "| name | default | unit | assumed | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in Parameters.model_fields.items():
        extra = field.json_schema_extra or {}
        assert isinstance(extra, dict)
        default = field.default
        shown = int(default) if float(default).is_integer() else default
        lines.append(f"| `{name}` | {shown} | {extra.get('unit', 's')} | "
                     f"{'yes' if extra.get('assumed') else 'no'} | {field.description} |")
    return "\n".join(lines) + "\n"
