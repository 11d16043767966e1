"""The console's server side without a browser: lab reads, the exercise, the classroom.

The reads answer only what the vSphere Client shows (the lab view is separate), each
vCenter shows only its own objects, the exercise is graded as ``vtalab train`` grades it,
and a classroom keeps trainees' worlds apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from vtalab.cli import main
from vtalab.errors import InputError
from vtalab.scenario.model import load_scenario
from vtalab.server import ServedLab, start
from vtalab.server.classroom import Classroom, exercise_labs, start_classroom
from vtalab.server.exercise import ExerciseLab, ServedExercise, powercli_line
from vtalab.training.session import Session

H = "vmware-api-session-id"


class Client:
    def __init__(self, served: Any, side: str) -> None:
        self.base = served.url(side)
        lab = served.lab
        r = httpx.post(self.base + "/api/session", auth=(lab.user, lab.password))
        assert r.status_code == 201, r.text
        self.headers = {H: r.json()}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.headers, **kw)

    def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any
             ) -> httpx.Response:
        return httpx.post(self.base + path, headers={**self.headers, **(headers or {})}, **kw)

    def verb(self, verb: str, timeout: float = 20.0, **args: str) -> dict[str, Any]:
        r = self.post("/api/vtalab/verbs", params={"vmw-task": "true"},
                      json={"verb": verb, "arguments": args})
        assert r.status_code == 200, r.text
        task = r.json()
        deadline = time.monotonic() + timeout  # wall-clock ok: a bounded poll
        while time.monotonic() < deadline:
            info = self.get(f"/api/cis/tasks/{task}").json()
            if info["status"] in ("SUCCEEDED", "FAILED"):
                return dict(info)
            time.sleep(0.05)
        raise AssertionError(f"{verb} still running after {timeout} s")


@pytest.fixture
def exercise_served() -> Iterator[Any]:
    lab = ExerciseLab(ServedExercise(Session.start("upgrade-before-import")), speed=600.0)
    with start(lab) as served:
        yield served


def test_reads_show_what_the_vsphere_client_shows(exercise_served: Any) -> None:
    wl, ta = Client(exercise_served, "workload"), Client(exercise_served, "ta")
    inv = wl.get("/api/vtalab/inventory").json()
    hosts = [h["name"] for c in inv["clusters"] for h in c["hosts"]]
    assert hosts == ["esx-01", "esx-02", "esx-03"]
    ta_hosts = [h["name"] for c in ta.get("/api/vtalab/inventory").json()["clusters"]
                for h in c["hosts"]]
    assert ta_hosts == ["ta-esx-01"]
    host = wl.get("/api/vtalab/hosts/esx-03").json()
    assert host["attestation_summary"] == "NOT_ATTESTED"
    assert "not a trusted base image" in host["attestation"][0]["messages"][0]
    # fog of war: the measured version and reason codes are lab-view facts only
    outside = {k: v for k, v in host.items() if k != "lab"}
    assert "measured" not in str(outside).lower()
    assert host["lab"]["Attestation reason code"] == "untrusted_base_image"
    # each vCenter shows its own hosts only
    assert ta.get("/api/vtalab/hosts/esx-03").status_code == 404
    assert wl.get("/api/vtalab/vms/db01").json()["power_state"] == "POWERED_OFF"
    ops = {(o["method"], o["path"]) for o in wl.get("/api/vtalab/operations").json()}
    assert ("POST", "/api/vtalab/verbs") in ops and ("GET", "/api/vtalab/inventory") in ops


def test_exercise_actions_are_graded_as_vtalab_train(exercise_served: Any) -> None:
    wl, ta = Client(exercise_served, "workload"), Client(exercise_served, "ta")
    assert wl.get("/api/vtalab/exercise").json()["hints_used"] == 0
    assert "Goal not reached" in wl.post("/api/vtalab/exercise/check").json()["text"]
    data = ta.get("/hosts/esx-03/boot_imgdb.tgz").content
    r = ta.post("/api/vcenter/trusted-infrastructure/trust-authority-clusters/domain-c8/"
                "attestation/os/esx/base-images", params={"action": "import-from-imgdb"},
                content=data, headers={"Content-Type": "application/gzip"})
    assert r.status_code in (200, 202), r.text
    deadline = time.monotonic() + 20  # wall-clock ok: a bounded wait for re-attestation
    while wl.get("/api/vtalab/hosts/esx-03").json()["attestation_summary"] != "ATTESTED":
        assert time.monotonic() < deadline, "esx-03 never attested"
        time.sleep(0.05)
    assert wl.verb("Start-VM", vm="db01")["result"]["ok"]
    check = wl.post("/api/vtalab/exercise/check").json()
    assert check["passed"], check["text"]
    session = exercise_served.lab.exercise.session
    lines = [e.line for e in session.entries if e.kind == "command"]
    assert lines[0].startswith("New-TrustAuthorityVMHostBaseImage -FilePath ")
    assert lines[-1] == "Start-VM -VM db01"
    assert "Scorecard" in check["text"] and "commands used          2" in check["text"]
    assert "<html" in wl.get("/api/vtalab/exercise/debrief").json()["html"].lower()


def test_no_exercise_no_exercise_operations() -> None:
    lab = ServedLab(load_scenario("scenarios/quick-boot-upgrade.yaml"), paused=True)
    with start(lab) as served:
        r = Client(served, "workload").get("/api/vtalab/exercise")
        assert r.status_code == 404 and "--exercise" in r.text


def test_powercli_line() -> None:
    assert powercli_line("Restart-VMHostService", {"vmhost": "esx-02", "service": "kmxa"}) \
        == "Restart-VMHostService -VMHost esx-02 -Service kmxa"
    assert powercli_line("set-quick-boot", {"cluster": "Trusted Cluster", "enabled": False}) \
        == "set-quick-boot -Cluster 'Trusted Cluster' -Enabled:$false"


def test_classroom_joins_names_and_capacity() -> None:
    room = Classroom("restart-kmxa", 1, exercise_labs(speed=60.0))
    with pytest.raises(InputError, match="letters"):
        room.join("<script>")
    alice = room.join("  Alice   B. ")
    assert alice.name == "Alice B." and alice.id == "t1"
    with pytest.raises(InputError, match="full"):
        room.join("Bob")
    with pytest.raises(InputError):
        Classroom("no-such-exercise", 2, exercise_labs())
    with pytest.raises(InputError):
        Classroom("restart-kmxa", 0, exercise_labs())


def test_classroom_worlds_are_apart_and_deterministic() -> None:
    room = Classroom("restart-kmxa", 2, exercise_labs(speed=60.0))
    with start_classroom(room) as served:
        a, b = httpx.Client(), httpx.Client()
        for c, name in ((a, "Ann"), (b, "Ben")):
            r = c.post(served.url + "/ui/", data={"name": name})
            assert r.status_code == 303
        t1, t2 = room.trainees["t1"], room.trainees["t2"]
        assert t1.lab.world is not t2.lab.world
        assert a.get(served.url + "/class/t1/ui/").status_code == 200
        assert a.get(served.url + "/class/t2/ui/").status_code == 403
        assert b.get(served.url + "/class/t2/ui/").status_code == 200
        # the same exercise seed: both worlds start from the same broken lab
        s1, s2 = t1.exercise.session, t2.exercise.session
        assert s1.start_seq == s2.start_seq > 0
        first = [e.to_json() for e in s1.world.kernel.trace.events[:s1.start_seq]]
        second = [e.to_json() for e in s2.world.kernel.trace.events[:s2.start_seq]]
        assert first == second
        a.close()
        b.close()


def test_classroom_sessions_are_recorded_and_replay(tmp_path: Any,
                                                   capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    """Each trainee's requests are recorded like a served session (one trace each, from
    the trainer page or written to a folder at the end); vtalab replay re-runs one."""
    room = Classroom("restart-kmxa", 2, exercise_labs(speed=60.0, paused=True))
    with start_classroom(room) as served:
        clients = {}
        for name in ("Ann", "Ben"):
            c = httpx.Client(base_url=served.url, trust_env=False, timeout=30)
            assert c.post("/ui/", data={"name": name}).status_code == 303
            clients[name] = c
        t1 = room.trainees["t1"]
        ann = clients["Ann"]
        sid = ann.post("/class/t1/api/session", auth=(t1.lab.user, t1.lab.password)).json()
        h = {"vmware-api-session-id": sid}
        assert ann.post("/class/t1/api/vtalab/exercise/hint", headers=h).status_code == 200
        r = ann.patch("/class/t1/api/vtalab/clock", json={"advance": "2m"}, headers=h)
        assert r.status_code == 200, r.text
        r = ann.post("/class/t1/api/vtalab/verbs", headers=h, params={"vmw-task": "true"},
                     json={"verb": "Restart-VMHost",
                           "arguments": {"vmhost": "ta-esx-01", "force": "true"}})
        assert r.status_code == 200, r.text
        assert ann.patch("/class/t1/api/vtalab/clock", json={"advance": "15m"},
                         headers=h).status_code == 200
        assert ann.post("/class/t1/api/vtalab/exercise/check", headers=h).status_code == 200
        # the trainer downloads Ann's trace while the class runs (the token guards it)
        assert ann.get("/ui/trainer/trace/t1").status_code == 403
        r = ann.get("/ui/trainer/trace/t1", params={"token": room.token})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        live = tmp_path / "ann-live.trace"
        live.write_bytes(r.content)
        for c in clients.values():
            c.close()
    written = room.write_traces(str(tmp_path))
    assert [p.rsplit("/", 1)[-1] for p in written] == ["t1.trace", "t2.trace"]
    header = live.read_text().splitlines()[0]
    assert '"exercise":"restart-kmxa"' in header and '"actor":"Ann"' in header
    kinds = [line for line in (tmp_path / "t1.trace").read_text().splitlines()
             if '"kind":"api.request"' in line]
    assert len(kinds) >= 6  # login, hint, clock, verb, clock, check
    for path in (live, tmp_path / "t1.trace", tmp_path / "t2.trace"):
        assert main(["replay", str(path)]) == 0
        assert capsys.readouterr().out.startswith("replay identical")
    # a changed request diverges: the replay really re-runs the trainee's requests
    lines = (tmp_path / "t1.trace").read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if "ta-esx-01" in line
             and '"kind":"api.request"' in line)
    lines[i] = lines[i].replace("ta-esx-01", "esx-01")
    (tmp_path / "t1.trace").write_text("\n".join(lines) + "\n")
    assert main(["replay", str(tmp_path / "t1.trace")]) == 1
    assert "diverges" in capsys.readouterr().out


def test_the_trainer_pages_need_the_token_and_a_trainee_sees_only_their_lab() -> None:
    """The trainer's debrief and trace of a trainee answer only with the printed token;
    a trainee's cookie opens their own lab, not another's (with the token, any)."""
    room = Classroom("restart-kmxa", 2, exercise_labs(speed=60.0, paused=True))
    with start_classroom(room) as served:
        ann = httpx.Client(base_url=served.url, trust_env=False, timeout=30)
        ben = httpx.Client(base_url=served.url, trust_env=False, timeout=30)
        assert ann.post("/ui/", data={"name": "Ann"}).status_code == 303
        assert ben.post("/ui/", data={"name": "Ben"}).status_code == 303
        for page in ("/ui/trainer/debrief/t1", "/ui/trainer/trace/t1"):
            assert ann.get(page).status_code == 403
            assert ann.get(page, params={"token": "wrong"}).status_code == 403
            assert ann.get(page, params={"token": room.token}).status_code == 200
        debrief = ann.get("/ui/trainer/debrief/t1", params={"token": room.token})
        assert "<html" in debrief.text.lower() and room.exercise.title in debrief.text
        assert ann.get("/ui/trainer/debrief/t9",
                       params={"token": room.token}).status_code == 404
        assert ann.get("/class/t2/ui/").status_code == 403
        assert ben.get("/class/t1/ui/").status_code == 403
        assert ben.get("/class/t2/ui/").status_code == 200
        ann.close()
        ben.close()


def test_serve_exercise_trace_in_a_classroom_needs_a_folder(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--exercise", "restart-kmxa", "--classroom", "2", "--trace",
            str(tmp_path / "nope")]
    assert main(argv) == 2
    assert "a folder that exists" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("argv, says", [
    (["serve"], "needs a SCENARIO.yaml or --exercise"),
    (["serve", "scenarios/quick-boot-upgrade.yaml", "--classroom", "2"], "needs --exercise"),
    (["serve", "--exercise", "no-such-exercise"], "unknown exercise"),
    (["serve", "scenarios/quick-boot-upgrade.yaml", "--exercise", "restart-kmxa"],
     "not both"),
    (["serve", "--exercise", "restart-kmxa", "--classroom", "0"], "at least 1"),
])
def test_serve_exercise_bad_input(argv: list[str], says: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert says in capsys.readouterr().err
