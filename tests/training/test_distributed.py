"""Data-parallel training with torchrun: two CPU processes (gloo) stay in sync and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ddspkit import paths
from ddspkit.io.modelfile import read_info

pytestmark = pytest.mark.slow


def torchrun_train(folder, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
               "--nproc_per_node", "2", "-m", "ddspkit.cli", "train", str(folder), "--name", "Dist",
               *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


def test_two_cpu_ranks_hold_the_same_weights_and_resume(sung_dataset):
    first = torchrun_train(sung_dataset, "--steps", "4", "--checkpoint-every", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    info = read_info(paths.models_dir() / "Dist.safetensors")
    dist = info.provenance["distributed"]
    assert dist["world_size"] == 2 and info.provenance["steps"] == 4
    assert len(dist["weight_checksums"]) == 2 and len(set(dist["weight_checksums"])) == 1
    assert first.stdout.count("trained 4 steps") == 1  # only rank 0 speaks

    resumed = torchrun_train(sung_dataset, "--steps", "6", "--checkpoint-every", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
    info = read_info(paths.models_dir() / "Dist.safetensors")
    assert info.provenance["steps"] == 6
    assert len(set(info.provenance["distributed"]["weight_checksums"])) == 1
    history = (paths.runs_dir() / "Dist" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in history] == [2, 4, 6]
