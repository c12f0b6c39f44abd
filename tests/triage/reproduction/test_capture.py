"""bugsift_capture.save(): in-process with a temporary capture dir, and from a script in the sandbox."""

import importlib
import json
import math
import sys

import numpy as np
import pytest

from triage.reproduction.sandbox import CAPTURE_HELPER_DIR, run_script


@pytest.fixture
def capture(monkeypatch, tmp_path):
    """The helper module imported as scripts import it (its folder on sys.path), writing into tmp_path."""
    monkeypatch.syspath_prepend(str(CAPTURE_HELPER_DIR))
    monkeypatch.setenv("BUGSIFT_CAPTURE_DIR", str(tmp_path / "captures"))
    sys.modules.pop("bugsift_capture", None)
    module = importlib.import_module("bugsift_capture")
    yield module
    sys.modules.pop("bugsift_capture", None)


def test_array_saved_as_npy_without_pickle(capture, tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = capture.save("logits", array)
    assert path == tmp_path / "captures" / "logits.npy"
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == np.float32 and loaded.shape == (2, 3)
    np.testing.assert_array_equal(loaded, array)


def test_scalars_and_nested_lists_become_arrays(capture, tmp_path):
    capture.save("loss", 0.25)
    capture.save("grid", [[1, 2], [3, float("nan")]])
    assert float(np.load(tmp_path / "captures" / "loss.npy")) == 0.25
    grid = np.load(tmp_path / "captures" / "grid.npy")
    assert grid.shape == (2, 2) and math.isnan(grid[1, 1]) and grid[0, 1] == 2


def test_saving_a_name_twice_replaces_it(capture, tmp_path):
    capture.save("out", [1, 2, 3])
    capture.save("out", [7])
    np.testing.assert_array_equal(np.load(tmp_path / "captures" / "out.npy"), [7])
    assert sorted(p.name for p in (tmp_path / "captures").iterdir()) == ["out.npy"]


@pytest.mark.parametrize("name", ["", "a/b", "../x", "has space", "x" * 101, "..", 5])
def test_bad_names_are_refused_with_the_rule(capture, name):
    with pytest.raises(ValueError, match=r"letters, digits, '_', '\.' or '-'"):
        capture.save(name, 1)


def test_objects_that_are_not_numbers_are_refused(capture):
    with pytest.raises(TypeError, match="needs numbers"):
        capture.save("ragged", [[1, 2], [3]])


def test_torch_style_and_tf_style_tensors(capture, tmp_path):
    """Duck-typed like the frameworks: .detach().cpu().numpy() for torch, .numpy() for TensorFlow."""

    class FakeTorch:
        dtype = "torch.float32"

        def __init__(self, data):
            self.data, self.calls = data, []

        def detach(self):
            self.calls.append("detach")
            return self

        def cpu(self):
            self.calls.append("cpu")
            return self

        def numpy(self):
            return np.asarray(self.data, dtype=np.float32)

    class FakeTF:
        def numpy(self):
            return np.array([1.5, 2.5])

    tensor = FakeTorch([[1.0, 2.0]])
    capture.save("t", tensor)
    capture.save("tf", FakeTF())
    assert tensor.calls == ["detach", "cpu"]
    np.testing.assert_array_equal(np.load(tmp_path / "captures" / "t.npy"), [[1.0, 2.0]])
    np.testing.assert_array_equal(np.load(tmp_path / "captures" / "tf.npy"), [1.5, 2.5])


def test_without_numpy_json_keeps_nan_and_inf(capture, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ImportError
    capture.save("vals", [1, float("nan"), float("inf")])
    text = (tmp_path / "captures" / "vals.json").read_text()
    values = json.loads(text)
    assert values[0] == 1 and math.isnan(values[1]) and values[2] == math.inf
    with pytest.raises(TypeError, match="Install numpy"):
        capture.save("obj", object())


def test_outside_bugsift_writes_to_local_folder(capture, tmp_path, monkeypatch):
    monkeypatch.delenv("BUGSIFT_CAPTURE_DIR")
    monkeypatch.chdir(tmp_path)
    capture.save("x", [1.0])
    assert (tmp_path / "bugsift_captures" / "x.npy").exists()


def test_capture_from_a_sandboxed_script(requires_bwrap, venv_python, tmp_path):
    """The helper is importable inside the sandbox and writes where the caller reads (captures_dir)."""
    script = "import numpy as np\nfrom bugsift_capture import save\nsave('logits', np.array([0.5, np.nan]))\n"
    result = run_script(script=script, python=venv_python, scratch=tmp_path / "scratch")
    assert result.exit_code == 0, result.stderr_tail
    saved = np.load(result.captures_dir / "logits.npy", allow_pickle=False)
    assert saved[0] == 0.5 and np.isnan(saved[1])
    assert result.captures_dir == tmp_path / "scratch" / ".bugsift" / "captures"


def test_capture_without_numpy_in_the_sandbox(requires_bwrap, base_python, tmp_path):
    """A script environment without numpy: the same call falls back to JSON."""
    script = "import sys\nsys.modules['numpy'] = None\n"
    script += "from bugsift_capture import save\nsave('loss', [0.1, float('inf')])\n"
    result = run_script(script=script, python=base_python, scratch=tmp_path / "scratch")
    assert result.exit_code == 0, result.stderr_tail
    assert json.loads((result.captures_dir / "loss.json").read_text()) == [0.1, math.inf]
