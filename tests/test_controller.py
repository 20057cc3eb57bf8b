import dataclasses
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import lr_agent
from lr_agent.controller import Controller, ControllerFileError
from tests.conftest import random_controller

OBS = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)


def test_save_and_load_round_trip_gives_the_same_decisions(tmp_path):
    controller = random_controller()
    path = controller.save(tmp_path / "c.lrc")
    loaded = Controller.load(path)
    assert [loaded.act(o) for o in OBS] == [controller.act(o) for o in OBS]
    assert len({controller.act(o) for o in OBS}) > 1
    assert loaded.info == {"note": "random weights for tests"}
    assert loaded.fingerprint == controller.fingerprint
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_continuous_controller_gives_a_factor_within_its_step(tmp_path):
    controller = Controller.load(random_controller(output="tanh", max_log10_step=0.5).save(tmp_path / "c.lrc"))
    factors = [controller.lr_factor(o) for o in OBS]
    assert all(10**-0.5 <= f <= 10**0.5 for f in factors)
    assert len(set(factors)) > 1


def test_file_is_plain_safetensors_readable_by_the_safetensors_library(tmp_path):
    from safetensors.torch import load_file

    controller = random_controller()
    tensors = load_file(controller.save(tmp_path / "c.lrc"))
    assert torch.equal(tensors["head.weight"], controller.head[0])


def write_raw(path, header: dict, body: bytes = b""):
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + body)
    return path


def test_truncated_file_is_refused_saying_so(tmp_path):
    data = random_controller().save(tmp_path / "c.lrc").read_bytes()
    for cut in (4, 40, len(data) - 10):
        (tmp_path / "t.lrc").write_bytes(data[:cut])
        with pytest.raises(ControllerFileError, match="t.lrc: truncated"):
            Controller.load(tmp_path / "t.lrc")


def test_corrupt_header_is_refused_saying_so(tmp_path):
    data = bytearray(random_controller().save(tmp_path / "c.lrc").read_bytes())
    data[8] = ord("#")
    (tmp_path / "bad.lrc").write_bytes(bytes(data))
    with pytest.raises(ControllerFileError, match="corrupt: the header is not valid JSON"):
        Controller.load(tmp_path / "bad.lrc")


def test_newer_format_version_is_refused_saying_so(tmp_path):
    controller = random_controller()
    meta = controller.metadata() | {"format_version": 99}
    from safetensors.torch import save_file

    save_file(controller.tensors(), tmp_path / "new.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match="format version 99 is newer than this lr-agent reads"):
        Controller.load(tmp_path / "new.lrc")


def test_range_test_settings_round_trip_and_version_1_files_still_load(tmp_path):
    from safetensors.torch import save_file

    controller = random_controller(range_test_steps=80, range_test_fraction=0.2, range_test_extend=1.5)
    loaded = Controller.load(controller.save(tmp_path / "probe.lrc"))
    assert (loaded.range_test_steps, loaded.range_test_fraction, loaded.range_test_extend) == (80, 0.2, 1.5)
    assert controller.metadata()["format_version"] == 3  # the extension needs version 3 ...
    assert random_controller(range_test_steps=80).metadata()["format_version"] == 2  # ... else v2 readers can
    meta = controller.metadata() | {"format_version": 2}
    del meta["range_test"]["extend"]  # version 2 had no extension
    save_file(controller.tensors(), tmp_path / "v2.lrc", metadata={"lr_agent": json.dumps(meta)})
    assert Controller.load(tmp_path / "v2.lrc").range_test_extend == 0.0
    meta = controller.metadata() | {"format_version": 1}
    del meta["range_test"]  # version 1 had no range test
    save_file(controller.tensors(), tmp_path / "v1.lrc", metadata={"lr_agent": json.dumps(meta)})
    assert Controller.load(tmp_path / "v1.lrc").range_test_steps == 0
    flat = dataclasses.replace(controller, range_test_flat_fallback=True)
    assert flat.metadata()["format_version"] == 4 and "flat_fallback" not in controller.metadata()["range_test"]
    assert Controller.load(flat.save(tmp_path / "flat.lrc")).range_test_flat_fallback is True
    meta = flat.metadata()
    meta["range_test"]["flat_fallback"] = "yes"
    save_file(flat.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match="range_test flat_fallback must be true or false, got 'yes'"):
        Controller.load(tmp_path / "bad.lrc")
    adaptive = dataclasses.replace(flat, range_test_adaptive_fraction=0.3)
    assert adaptive.metadata()["format_version"] == 5 and "adaptive_fraction" not in flat.metadata()["range_test"]
    assert Controller.load(adaptive.save(tmp_path / "adaptive.lrc")).range_test_adaptive_fraction == 0.3
    params = [torch.nn.Parameter(torch.zeros(1))]
    adam, sgd = torch.optim.Adam(params), torch.optim.SGD(params, lr=0.1)
    assert (adaptive.range_test_fraction_for(adam), adaptive.range_test_fraction_for(sgd)) == (0.3, 0.2)
    assert flat.range_test_fraction_for(adam) == 0.2
    annealed = dataclasses.replace(adaptive, anneal_tail=0.25)
    assert annealed.metadata()["format_version"] == 6 and "anneal_tail" not in adaptive.metadata()
    assert Controller.load(annealed.save(tmp_path / "annealed.lrc")).anneal_tail == 0.25
    meta = annealed.metadata()
    meta["anneal_tail"] = 2
    save_file(annealed.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match=r"bad.lrc: .*anneal_tail must be a share of the budget in \[0, 1\]"):
        Controller.load(tmp_path / "bad.lrc")
    meta = adaptive.metadata()
    meta["range_test"]["adaptive_fraction"] = 3
    save_file(flat.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match=r"range_test adaptive_fraction must be in \(0, 1\], got 3"):
        Controller.load(tmp_path / "bad.lrc")
    with pytest.raises(ControllerFileError, match="adaptive_fraction need a range test"):
        dataclasses.replace(adaptive, range_test_steps=0)


def test_metadata_that_does_not_match_the_tensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    controller = random_controller()
    tensors = controller.tensors()
    del tensors["layer0.bias"]
    save_file(tensors, tmp_path / "a.lrc", metadata={"lr_agent": json.dumps(controller.metadata())})
    with pytest.raises(ControllerFileError, match=r"metadata does not match tensors: missing \['layer0.bias'\]"):
        Controller.load(tmp_path / "a.lrc")
    meta = controller.metadata()
    meta["actions"]["multipliers"] = [0.5, 1.0, 2.0]
    save_file(controller.tensors(), tmp_path / "b.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match="b.lrc: .*head gives 7 outputs, the action set needs 3"):
        Controller.load(tmp_path / "b.lrc")


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = ""


def test_a_file_crafted_to_run_code_when_unpickled_is_refused_without_running_it(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    payload = pickle.dumps(RunsCode())
    (tmp_path / "evil.lrc").write_bytes(payload)
    torch.save({"x": RunsCode()}, tmp_path / "evil_zip.lrc")
    for name in ("evil.lrc", "evil_zip.lrc"):
        with pytest.raises(ControllerFileError, match="not a controller file"):
            Controller.load(tmp_path / name)
    assert not os.path.exists(MARKER)


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = random_controller(seed=1).save(tmp_path / "c.lrc")
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        random_controller(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.lrc"]


def test_missing_file_names_the_path():
    with pytest.raises(ControllerFileError, match="nope.lrc: no such file"):
        Controller.load("nope.lrc")


def test_pretrained_controller_ships_and_loads():
    controller = Controller.pretrained()
    members = controller.info.get("members", [controller.info])  # one agent, or an ensemble of several
    assert all(member["algorithm"] in ("ppo", "a2c", "dqn", "sac") for member in members)
    root = Path(__file__).resolve().parent.parent
    assert f"fingerprint `{controller.fingerprint}`" in (root / "README.md").read_text()  # the file that ships
    recipe = (root / "Makefile").read_text()  # `make pretrained` makes it with the probe settings it ships with
    assert f"--range-test-extend {controller.range_test_extend:g}" in recipe
    assert f"--range-test-fraction {controller.range_test_fraction:g}" in recipe
    assert ("--range-test-flat-fallback" in recipe) is controller.range_test_flat_fallback
    adaptive = controller.range_test_adaptive_fraction
    assert adaptive is None or f"--range-test-adaptive-fraction {adaptive:g}" in recipe
    assert adaptive is not None or "--range-test-adaptive-fraction" not in recipe
    tail = controller.anneal_tail
    assert f"--anneal-tail {tail:g}" in recipe if tail else "--anneal-tail" not in recipe
    probe = controller.scale_probe_epochs
    assert f"--scale-probe-epochs {probe:g}" in recipe if probe else "--scale-probe" not in recipe
    width, share = controller.scale_probe_width, controller.scale_probe_fraction
    assert f"--scale-probe-width {width}" in recipe if width != 1 else "--scale-probe-width" not in recipe
    assert f"--scale-probe-fraction {share:g}" in recipe if share else "--scale-probe-fraction" not in recipe
    assert ("--scale-probe-anneal" in recipe) is controller.scale_probe_anneal
    walk = controller.scale_probe_walk
    assert f"--scale-probe-walk {walk}" in recipe if walk else "--scale-probe-walk" not in recipe
    climb = controller.scale_probe_climb
    assert f"--scale-probe-climb {climb}" in recipe if climb else "--scale-probe-climb" not in recipe
    hold = controller.scale_probe_hold
    assert f"--scale-probe-hold {hold:g}" in recipe if hold else "--scale-probe-hold" not in recipe
    assert controller.action_mode in ("discrete", "continuous")


def test_onnx_export_gives_the_same_actions(tmp_path):
    import onnxruntime as ort

    from lr_agent.onnx_export import export_onnx

    controller = random_controller()
    session = ort.InferenceSession(str(export_onnx(controller, tmp_path / "c.onnx")))
    actions = session.run(None, {"observation": OBS})[0]
    assert actions.tolist() == [controller.act(o) for o in OBS]


def test_lr_agent_exports_the_public_names():
    assert {"Controller", "ControllerScheduler", "TrainingRunEnv"} <= set(lr_agent.__all__)


def test_non_finite_or_invalid_numbers_are_refused_at_load(tmp_path):
    from safetensors.torch import save_file

    controller = random_controller()
    tensors = {name: t.clone() for name, t in controller.tensors().items()}
    tensors["head.weight"][0, 0] = float("nan")
    save_file(tensors, tmp_path / "nan.lrc", metadata={"lr_agent": json.dumps(controller.metadata())})
    with pytest.raises(ControllerFileError, match="tensor 'head.weight' holds non-finite values"):
        Controller.load(tmp_path / "nan.lrc")
    for change, message in [
        (lambda m: m["actions"].update(multipliers=[float("nan"), 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), "multipliers"),
        (lambda m: m["actions"].update(max_log10_step=1e6), "max_log10_step"),
        (lambda m: m["observation"].update(clip=-1.0), "obs_clip"),
        (lambda m: m.update(format_version=True), "not a version number"),
        (lambda m: m.update(range_test={"num_steps": 1, "fraction": 0.1, "span": [1e-4, 1e4]}), "range_test num_steps"),
        (
            lambda m: m.update(range_test={"num_steps": 100, "fraction": 2.0, "span": [1e-4, 1e4]}),
            "range_test fraction",
        ),
        (lambda m: m.update(range_test={"num_steps": 100, "fraction": 0.1, "span": [1e4, 1e-4]}), "range_test span"),
    ]:
        meta = controller.metadata()
        change(meta)
        save_file(controller.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
        with pytest.raises(ControllerFileError, match=message):
            Controller.load(tmp_path / "bad.lrc")


@pytest.mark.parametrize(
    "header, message",
    [
        ({"__metadata__": {"lr_agent": "[1, 2]"}}, "metadata is not a JSON object"),
        ({"__metadata__": 5}, "has no 'lr_agent' entry"),
        (
            {"__metadata__": {"lr_agent": "{}"}, "x": {"dtype": "F32", "shape": [-2, -5], "data_offsets": [0, 40]}},
            "tensor 'x' has a bad header entry",
        ),
    ],
)
def test_crafted_headers_get_a_controller_file_error(tmp_path, header, message):
    with pytest.raises(ControllerFileError, match=message):
        Controller.load(write_raw(tmp_path / "crafted.lrc", header, b"\0" * 40))
