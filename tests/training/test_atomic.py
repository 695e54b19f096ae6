"""Training artefacts are written atomically: a kill at any moment leaves the old bundle or the new one, never half."""

import json
import signal
import subprocess
import sys
import time

import pytest

from lesion.bundle import InvalidBundleError, load_bundle, sha256_of
from training import atomic, export

WRITER = """
import json, sys
from pathlib import Path
from lesion.bundle import sha256_of
from training import atomic
target, payload = Path(sys.argv[1]), bytes(range(256)) * 8_000   # 2 MB, so that a write takes a while
print("ready", flush=True)
for round in range(10_000):   # what export.write_bundle and the final bundle do, without importing TensorFlow
    with atomic.staged_directory(target) as staging:
        (staging / "model.tflite").write_bytes(payload + round.to_bytes(4, "little"))
        config = {"name": "x", "version": str(round), "sha256": sha256_of(staging / "model.tflite")}
        (staging / "config.json").write_text(json.dumps(config))
"""


def test_a_failure_while_staging_keeps_the_old_folder(tmp_path):
    target = tmp_path / "bundle"
    export.write_bundle(target, b"old model", {"name": "old"})
    with pytest.raises(RuntimeError), atomic.staged_directory(target) as staging:
        (staging / "model.tflite").write_bytes(b"half")
        raise RuntimeError("killed while writing the card")
    assert (target / "model.tflite").read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_kill_at_any_moment_never_leaves_a_half_written_bundle(tmp_path):
    target = tmp_path / "bundle"
    for delay in (0.05, 0.13, 0.29, 0.41, 0.6, 0.77):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        if target.exists():  # the folder the app would look at is either absent or whole
            config = json.loads((target / "config.json").read_text())
            try:
                load_bundle(target)
            except InvalidBundleError as error:  # only for want of real labels; never a checksum mismatch
                assert "sha256" not in str(error)
            assert config["sha256"] == sha256_of(target / "model.tflite")


def test_write_text_replaces_whole(tmp_path):
    path = tmp_path / "split.json"
    atomic.write_text(path, "first")
    atomic.write_text(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]
