"""The web console in a real browser: the seed's procedures done with the mouse.

Each test serves a lab in-process (``vtalab.server.start``, ephemeral 127.0.0.1 ports),
opens ``/ui`` in Debian's Chromium through Playwright and works only through the page.
The fixtures (``conftest.py``) fail a test whose page requested anything outside
127.0.0.1 or logged an error, and keep screenshots of failed tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from vtalab.scenario.model import load_scenario, load_scenario_text
from vtalab.server import ServedLab, start
from vtalab.server.classroom import Classroom, exercise_labs, start_classroom
from vtalab.server.exercise import ExerciseLab, ServedExercise
from vtalab.training.session import Session

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

#: Simulated seconds per real second: minutes of upgrades and boots pass in a moment.
SPEED = 300.0


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    started: list[Any] = []

    def make(lab: Any) -> Any:
        served = start(lab, ui=True)
        started.append(served)
        return served

    yield make
    for s in started:
        s.stop()


def exercise_lab(name: str) -> ExerciseLab:
    return ExerciseLab(ServedExercise(Session.start(name)), speed=SPEED)


def login(page: Any, served: Any) -> None:
    page.goto(served.workload_url + "/ui/")
    page.get_by_label("Password").fill(served.lab.password)
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("tree")).to_contain_text(served.lab.vcenter_name("workload"))


def tree_item(page: Any, name: str) -> Any:
    return page.locator(f"[role=treeitem][data-node$=':{name}'] > .row").first


def open_object(page: Any, name: str, tab: str, section: str | None = None) -> None:
    tree_item(page, name).click()
    expect(page.locator(".objhdr h1")).to_have_text(name)
    page.get_by_role("tab", name=tab).click()
    if section is not None:
        page.locator(".subnav button", has_text=section).click()


def task_row(page: Any, name: str, target: str) -> Any:
    return page.locator("#tasks tbody tr", has=page.locator("td", has_text=name)).filter(
        has=page.locator("td", has_text=re.compile(f"^{re.escape(target)}$")))


def test_quick_boot_repair_through_the_ui(serve: Any, page: Any, watch: Any,
                                          tmp_path: Any) -> None:
    """The seed's fix: attestation Failed and a Recent Tasks error after a power-on;
    download the base image from the upgraded host; import it; Passed; power on."""
    served = serve(exercise_lab("upgrade-before-import"))
    login(page, served)

    open_object(page, "esx-03", "Monitor", "Security")
    expect(page.locator("#attestation-summary")).to_have_text("Failed")
    expect(page.locator("tr[data-service] .msgs")).to_contain_text("not a trusted base image")
    failed = task_row(page, "Power On virtual machine", "db01")
    expect(failed).to_have_attribute("data-status", "error")
    expect(failed.locator("td.details")).to_contain_text("Cannot power on db01")
    # The event's Type is the lab API's severity (vtalab.domain.vcenter.EVENT_SEVERITY).
    open_object(page, "esx-03", "Monitor", "Events")
    fail = page.locator("tr[data-event='com.vmware.vc.TaHostAttestFailEvent']").first
    expect(fail.locator("td").nth(1)).to_have_text("Error")

    page.get_by_role("button", name="Actions").click()
    with page.expect_download() as info:
        page.get_by_role("menuitem", name=re.compile("Export base image")).click()
    imgdb = tmp_path / "boot_imgdb.tgz"
    info.value.save_as(imgdb)
    assert imgdb.read_bytes()[:2] == b"\x1f\x8b"  # a gzip file

    open_object(page, "vTA Cluster", "Configure", "Base Images")
    page.get_by_role("button", name="Import from file").click()
    dialog = page.get_by_role("dialog", name="Import ESXi base image")
    dialog.locator("#imgdb-file").set_input_files(str(imgdb))
    dialog.get_by_role("button", name="Import").click()
    expect(page.locator("tr[data-version='8.0.3-24022510']")).to_be_visible()
    expect(task_row(page, "Add trusted ESXi base image", "8.0.3-24022510")).to_have_attribute(
        "data-status", "success")

    open_object(page, "esx-03", "Monitor", "Security")
    expect(page.locator("#attestation-summary")).to_have_text("Passed")

    open_object(page, "db01", "Summary")
    page.locator("#vm-power-on").click()
    expect(page.locator(".pane .card")).to_contain_text("Powered On")

    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-text")).to_contain_text("Goal reached, trust intact.")
    page.get_by_role("button", name="Close").click()
    with page.expect_popup() as popup:
        page.get_by_role("link", name="Debrief").click()
    debrief = popup.value
    expect(debrief.locator("body")).to_contain_text("New-TrustAuthorityVMHostBaseImage")
    expect(debrief.locator("body")).to_contain_text("Start-VM -VM db01")
    assert not watch.foreign() and not watch.errors


def test_remove_image_asks_for_confirmation(serve: Any, page: Any) -> None:
    served = serve(ServedLab(load_scenario("scenarios/quick-boot-upgrade.yaml"),
                             speed=SPEED, paused=True))
    login(page, served)
    open_object(page, "vTA Cluster", "Configure", "Base Images")
    row = page.locator("tr[data-version='8.0.1-21495797']")
    row.click()
    page.locator("#remove-image").click()
    confirm = page.get_by_role("alertdialog", name="Remove base image")
    expect(confirm).to_contain_text("Remove the trusted ESXi base image 8.0.1-21495797?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(row).to_be_visible()

    row.click()
    page.locator("#remove-image").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0)
    expect(task_row(page, "Remove trusted ESXi base image", "8.0.1-21495797")
           ).to_have_attribute("data-status", "success")


def test_kmxa_restart_from_vcenter_is_refused(serve: Any, page: Any) -> None:
    """The seed: a service on a trusted host is restarted by logging in to the host."""
    served = serve(exercise_lab("restart-kmxa"))
    login(page, served)
    open_object(page, "esx-02", "Configure", "Services")
    page.locator("tr[data-service='kmxa']").click()
    page.locator("#svc-restart").click()
    refused = task_row(page, "Restart service kmxa", "esx-02")
    expect(refused).to_have_attribute("data-status", "error")
    expect(refused.locator("td.details")).to_contain_text("log in to the host itself")
    expect(page.locator(".banner.err")).to_contain_text("log in to the host itself")

    # the seed's way: on the host itself (the lab's host shell), then the VM starts
    page.locator("tr[data-service='kmxa']").click()
    page.locator("#ssh-restart").click()
    expect(page.locator(".banner.ok")).to_contain_text("kmxa restarted on esx-02")
    open_object(page, "db01", "Summary")
    page.locator("#vm-power-on").click()
    expect(page.locator(".pane .card")).to_contain_text("Powered On")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-text")).to_contain_text("Goal reached, trust intact.")


def test_keyboard_only(serve: Any, page: Any) -> None:
    """The tree, the tabs and the Actions menu work without a mouse (ARIA roles)."""
    served = serve(ServedLab(load_scenario("scenarios/quick-boot-upgrade.yaml"),
                             speed=SPEED, paused=True))
    login(page, served)
    page.locator("[role=treeitem][tabindex='0']").focus()  # the selected vTA Cluster
    for _ in range(4):  # ta-esx-01, vcsa-wld, Trusted Cluster, esx-01
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator(".objhdr h1")).to_have_text("esx-01")
    page.get_by_role("tab", name="Summary").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Monitor")).to_have_attribute("aria-selected", "true")
    page.locator("#actions-btn").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menu")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menu")).to_have_count(0)


DRIFT = """
name: drifted-trusted-cluster
seed: 5
topology:
  ta_cluster:
    hosts: [{name: ta-esx-01}, {name: ta-esx-02}]
  trusted_clusters:
    - name: Trusted Cluster
      hosts: [{name: esx-01}, {name: esx-02}]
steps:
  - at: 1m
    do: Remove-TrustedClusterAttestationServiceInfo
    with: {vmhost: ta-esx-02}
"""


def test_remediate_a_drifted_trusted_cluster(serve: Any, page: Any) -> None:
    served = serve(ServedLab(load_scenario_text(DRIFT, file="drift.yaml"), speed=SPEED))
    login(page, served)
    open_object(page, "Trusted Cluster", "Configure", "Trust Authority")
    expect(page.locator(".card [data-health]").first).to_have_attribute("data-health", "ERROR")
    page.locator("#remediate").click()
    page.get_by_role("dialog", name="Remediate Trusted Cluster").get_by_role(
        "button", name="Remediate").click()
    expect(page.locator(".card [data-health]").first).to_have_attribute("data-health", "OK")
    expect(task_row(page, "Update Trusted cluster", "Trusted Cluster").first).to_have_attribute(
        "data-status", "success")


@pytest.fixture
def classroom() -> Iterator[Any]:
    room = Classroom("upgrade-before-import", 2, exercise_labs(speed=SPEED))
    with start_classroom(room) as served:
        yield served


def test_classroom_gives_each_trainee_a_world(classroom: Any, context_factory: Any) -> None:
    served, room = classroom, classroom.room
    alice = context_factory().new_page()
    bob = context_factory().new_page()
    for page, name in ((alice, "Alice"), (bob, "Bob")):
        page.goto(served.url + "/ui/")
        page.get_by_label("Your name").fill(name)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_role("tree")).to_contain_text("esx-03")
    assert alice.url != bob.url

    open_object(alice, "web01", "Summary")
    alice.locator("#vm-power-off").click()
    expect(alice.locator(".pane .card")).to_contain_text("Powered Off")
    open_object(bob, "web01", "Summary")
    expect(bob.locator(".pane .card")).to_contain_text("Powered On")
    bob.get_by_role("button", name=re.compile("Hint")).click()
    expect(bob.locator("#hint-text")).to_contain_text("esx-03")

    trainer = context_factory().new_page()
    trainer.goto(f"{served.url}/ui/trainer?token={room.token}")
    rows = trainer.locator("#trainees tbody tr")
    expect(rows).to_have_count(2)
    expect(trainer.locator("tr[data-trainee='Alice']")).to_contain_text("0 of 3")
    expect(trainer.locator("tr[data-trainee='Bob']")).to_contain_text("1 of 3")
    assert "Alice" in trainer.content() and "Bob" in trainer.content()

    # the trainer looks into Alice's world with the lab view; Alice has no lab view
    expect(alice.locator("#labview-wrap")).to_be_hidden()
    with trainer.expect_popup() as popup:
        trainer.locator("a[data-console='Alice']").click()
    view = popup.value
    expect(view.get_by_role("tree")).to_contain_text("esx-03")
    view.get_by_label("Lab view (omniscient)").check()
    open_object(view, "esx-03", "Summary")
    expect(view.locator(".labview")).to_contain_text("untrusted_base_image")
    open_object(view, "web01", "Summary")
    expect(view.locator(".pane .card")).to_contain_text("Powered Off")

    assert httpx.get(f"{served.url}/ui/trainer?token=wrong").status_code == 403
    # a trainee's lab is theirs: another browser (no cookie) is refused
    assert httpx.get(alice.url).status_code == 403


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_readable_at_common_sizes(serve: Any, context_factory: Any,
                                  size: tuple[int, int]) -> None:
    """Main pages fit the window: nothing wider than the viewport, the panes visible."""
    served = serve(exercise_lab("upgrade-before-import"))
    page = context_factory(viewport={"width": size[0], "height": size[1]}).new_page()
    login(page, served)
    for name, tab, section in (("vTA Cluster", "Configure", "Base Images"),
                               ("esx-03", "Monitor", "Security"),
                               ("Trusted Cluster", "Configure", "Trust Authority"),
                               ("db01", "Summary", None)):
        open_object(page, name, tab, section)
        expect(page.locator(".pane")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} {tab}: {overflow}px wider than the window"
        for region in ("nav.navigator", "main.content", "section.tasks", ".labbar"):
            box = page.locator(region).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0, region
            assert box["x"] + box["width"] <= size[0] + 1, region


def test_quick_boot_trap_fixed_with_full_reboots(serve: Any, page: Any) -> None:
    """The seed's Quick Boot point 1: hosts measured the removed 8.0 U1 after Quick Boot
    upgrades; disable Quick Boot, reboot fully, and they attest the new image."""
    served = serve(exercise_lab("quick-boot-old-image-removed"))
    login(page, served)
    open_object(page, "esx-01", "Monitor", "Security")
    expect(page.locator("#attestation-summary")).to_have_text("Failed")
    # the seed's Quick Boot point 3: exporting from a Quick-Booted host says so
    page.get_by_role("button", name="Actions").click()
    with page.expect_download():
        page.get_by_role("menuitem", name=re.compile("Export base image")).click()
    expect(page.locator(".banner.info")).to_contain_text("upgraded with Quick Boot")

    open_object(page, "Trusted Cluster", "Configure", "Remediation settings")
    box = page.get_by_label("Quick Boot")
    expect(box).to_be_checked()
    box.uncheck()
    page.locator("#save-quick-boot").click()
    expect(page.locator(".banner.ok")).to_contain_text("Quick Boot disabled")

    for host in ("esx-01", "esx-02"):
        open_object(page, host, "Monitor", "Security")
        page.get_by_role("button", name="Actions").click()
        page.get_by_role("menuitem", name="Reboot").click()
        page.get_by_role("dialog", name="Reboot host").get_by_role("button", name="OK").click()
        expect(task_row(page, "Reboot host", host).first).to_have_attribute(
            "data-status", "success", timeout=30_000)
        expect(page.locator("#attestation-summary")).to_have_text("Passed", timeout=30_000)

    open_object(page, "db01", "Summary")
    page.locator("#vm-power-on").click()
    expect(page.locator(".pane .card")).to_contain_text("Powered On")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-text")).to_contain_text("Goal reached, trust intact.")


def test_trust_authority_configuration_pages(serve: Any, page: Any) -> None:
    """Every section of TA cluster > Configure > Trust Authority, and a Trusted cluster's
    services, read from the vSphere Automation API."""
    served = serve(ServedLab(load_scenario("scenarios/quick-boot-upgrade.yaml"),
                             speed=SPEED, paused=True))
    login(page, served)
    expected = {"Trust Authority Cluster": "Enabled", "TPM CA Certificates": "Infineon",
                "TPM Endorsement Keys": "No endorsement keys",
                "TPM 2.0 Settings": "Require certificate validation",
                "Principals": "vcsa-wld.lab.local", "Key Providers": "vTA-KeyProvider",
                "Services Status": "Key Provider Service"}
    open_object(page, "vTA Cluster", "Configure")
    for section, text in expected.items():
        page.locator(".subnav button", has_text=section).first.click()
        expect(page.locator(".pane")).to_contain_text(text)
        expect(page.locator(".pane")).not_to_contain_text("does not serve")
    expect(page.locator(".pane")).to_contain_text("Healthy")
    open_object(page, "Trusted Cluster", "Configure", "Trust Authority")
    expect(page.get_by_role("table", name="Attestation services")).to_contain_text(
        "ta-esx-01:attestd")
    expect(page.get_by_role("table", name="Key provider services")).to_contain_text(
        "ta-esx-01:kmxd")


def test_lab_bar_clock(serve: Any, page: Any) -> None:
    """Pause, advance by 10 minutes and 1 hour, set the speed, run again."""
    served = serve(ServedLab(load_scenario("scenarios/quick-boot-upgrade.yaml"),
                             speed=SPEED, paused=True))
    login(page, served)
    clock = page.locator("#clock")
    expect(clock).to_contain_text("T+00:00:00")
    expect(clock).to_contain_text("paused")
    page.get_by_role("button", name="+10 min").click()
    expect(clock).to_contain_text("T+00:10:00")
    page.get_by_role("button", name="+1 h").click()
    expect(clock).to_contain_text("T+01:10:00")
    page.locator("#clock-speed").select_option("600")
    page.get_by_role("button", name="Run").click()
    expect(clock).to_contain_text("600\u00d7")
    expect(clock).not_to_contain_text("T+01:10:00")
    page.get_by_role("button", name="Pause").click()
    expect(clock).to_contain_text("paused")
    assert served.lab.clock.running is False and served.lab.kernel.now > 4200
