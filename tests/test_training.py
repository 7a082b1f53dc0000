"""The training loop: resume, checkpoints, early stopping, divergence, collapse, summary, DDP."""
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from aekit.models import create_model
from aekit.summary import model_summary
from aekit.diagnostics import CollapseWarning, check_collapse
from aekit.training import TrainConfig, Trainer, TrainingError, fit
from aekit.training.checkpoint import STATE_NAME, load_checkpoint, save_checkpoint
from tests.helpers import digits_split

ROOT = Path(__file__).resolve().parents[1]


def conv(seed=0, **kw):
    torch.manual_seed(seed)
    return create_model("conv", input_shape=(1, 8, 8), latent_dim=8, channels=(8, 16), **kw)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    train, val = digits_split()
    cfg = dict(epochs=4, batch_size=128, progress=False, random_state=3)
    full = conv(dropout_free := 0)
    fit(full, train, val, config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "a")))

    def stop_after_two(epoch, logs):
        if epoch == 2:
            raise Interrupt

    part = conv(dropout_free)
    with pytest.raises(Interrupt):
        fit(part, train, val, config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")),
            callbacks=[stop_after_two])
    resumed = conv(seed=99)  # a fresh process would start from other weights; resume must overwrite them
    result = fit(resumed, train, val, config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")), resume=True)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


@pytest.mark.filterwarnings("ignore::aekit.diagnostics.CollapseWarning")  # 44 steps: too few to matter here
@pytest.mark.parametrize("kind", ["array", "stream"])
def test_resume_mid_epoch_equals_uninterrupted_run(tmp_path, kind):
    """checkpoint_every_steps: a run killed in the middle of an epoch resumes from its last step checkpoint
    and ends with the uninterrupted run's weights, for in-memory arrays and for streams."""
    from aekit.data.streaming import ArrayStream

    train, _ = digits_split()
    np.save(tmp_path / "train.npy", train)
    data = (lambda: train) if kind == "array" else (lambda: ArrayStream(tmp_path / "train.npy", block_size=100,
                                                                         buffer_size=300))
    cfg = dict(epochs=2, batch_size=64, progress=False, random_state=3, checkpoint_every_steps=5)
    full = conv(0)
    fit(full, data(), config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "a")))
    from aekit.losses import total_loss
    calls = [0]

    def mse(out, target):  # the same loss, killed at the 33rd step (epoch 2, step 11; last checkpoint: step 30)
        calls[0] += 1
        if calls[0] == 33:
            raise Interrupt
        return total_loss(out.recon, target, out.regularizers, "mse")

    with pytest.raises(Interrupt):
        fit(conv(0), data(), config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")), objective=mse)
    assert load_checkpoint(tmp_path / "b")["step"] == 30 and load_checkpoint(tmp_path / "b")["step_in_epoch"] == 8
    resumed = conv(seed=99)
    result = fit(resumed, data(), config=TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "b")), resume=True)
    assert [h["epoch"] for h in result.history] == [1, 2] and result.steps == 44
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_resume_with_other_options_is_refused(tmp_path):
    train, val = digits_split()
    fit(conv(), train[:256], config=TrainConfig(epochs=1, progress=False, checkpoint_dir=str(tmp_path)))
    with pytest.raises(TrainingError, match=r"batch_size: checkpoint 256 vs now 32"):
        fit(conv(), train[:256], config=TrainConfig(epochs=2, batch_size=32, progress=False,
                                                   checkpoint_dir=str(tmp_path)), resume=True)


def test_checkpoint_written_every_epoch_atomically(tmp_path):
    train, val = digits_split()
    seen = []

    def look(epoch, logs):
        seen.append(load_checkpoint(tmp_path)["epoch"])

    fit(conv(), train[:256], val[:64], config=TrainConfig(epochs=3, progress=False, checkpoint_dir=str(tmp_path)),
        callbacks=[look])
    assert seen == [1, 2, 3]
    names = sorted(p.name for p in tmp_path.iterdir())   # one state pair, no temporary files, no pickle
    assert len(names) == 2 and STATE_NAME in names and names[0].endswith(".safetensors"), names


def test_checkpoint_round_trips_without_pickle(tmp_path):
    model = conv()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.rand(4, 1, 8, 8)).recon.mean().backward()
    opt.step()
    state = {"epoch": 2, "history": [{"loss": 0.5}], "best_state": None, "model": model.state_dict(),
             "optimizer": opt.state_dict(), "rng": torch.get_rng_state()}
    save_checkpoint(tmp_path, state)
    back = load_checkpoint(tmp_path)
    assert back["epoch"] == 2 and back["history"] == [{"loss": 0.5}] and back["best_state"] is None
    assert all(torch.equal(v, back["model"][k]) for k, v in state["model"].items())
    assert torch.equal(back["rng"], state["rng"])
    opt2 = torch.optim.AdamW(conv().parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])          # the optimizer state comes back in a usable form
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    for f in tmp_path.iterdir():                     # nothing that torch.load / pickle would read
        assert not f.read_bytes().startswith(b"\x80") and f.suffix in (".json", ".safetensors"), f


def test_half_written_checkpoint_keeps_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, {"epoch": 1, "w": torch.ones(3)})
    (tmp_path / "state-0123456789abcdef.safetensors").write_bytes(b"partial")   # killed before state.json
    assert load_checkpoint(tmp_path)["epoch"] == 1


def test_old_pickle_checkpoint_is_not_read(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x04not read")
    with pytest.raises(ValueError, match=r"older aekit .* no longer reads"):
        load_checkpoint(tmp_path)


def test_history_and_early_stopping():
    train, val = digits_split()
    noise = np.random.default_rng(0).random(val.shape).astype(np.float32)  # val unrelated to train: no progress
    result = fit(conv(), train[:512], noise, config=TrainConfig(epochs=30, lr=3e-3, early_stopping=2,
                                                               progress=False))
    assert result.stopped_early and len(result.history) < 30
    h = result.history[0]
    assert {"epoch", "train_loss", "train_recon", "val_loss", "val_recon", "lr", "time"} <= set(h)


def test_cosine_schedule_decays_to_floor():
    train, _ = digits_split()
    result = fit(conv(), train[:256], config=TrainConfig(epochs=4, batch_size=64, lr=1e-2, progress=False))
    lrs = [h["lr"] for h in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-3


def test_max_time_stops_training():
    train, _ = digits_split()
    result = fit(conv(), train, config=TrainConfig(epochs=10_000, max_time=1.5, progress=False))
    assert result.elapsed < 10 and len(result.history) < 10_000


def test_diverging_loss_names_epoch_and_step():
    train, _ = digits_split()
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf).* at epoch \d+, step \d+"):
        fit(conv(), train * 1e30, config=TrainConfig(epochs=2, progress=False))


def test_bce_needs_sigmoid_output():
    with pytest.raises(ValueError, match=r"loss='bce' needs .*output_activation='sigmoid'.*'clamp'"):
        Trainer(conv(), TrainConfig(), objective="bce")


def test_bce_with_sigmoid_trains():
    train, val = digits_split()
    result = fit(conv(output_activation="sigmoid"), train, val,
                 config=TrainConfig(epochs=5, progress=False), objective="bce")
    assert result.history[-1]["val_recon"] < result.history[0]["val_recon"]


@pytest.mark.parametrize("bad, match", [
    (dict(epochs=0), r"epochs=0 must be a positive integer"),
    (dict(optimizer="sgd"), r"optimizer='sgd'; expected one of"),
    (dict(lr=-1), r"lr=-1 must be a number > 0"),
])
def test_bad_config_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_wrong_sample_shape_is_named():
    with pytest.raises(ValueError, match=r"shape \(1, 28, 28\) but the 'conv' model expects \(1, 8, 8\)"):
        fit(conv(), np.zeros((4, 1, 28, 28), np.float32), config=TrainConfig(progress=False))


def test_constant_output_is_detected_with_remedy():
    model = conv()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()
        model.decoder[-1].bias.fill_(0.1)  # every input gives the same grey image
    train, _ = digits_split()
    with pytest.warns(CollapseWarning, match=r"output is \(nearly\) the same.*Remedies: .*clamp"):
        report = check_collapse(model, torch.from_numpy(train[:200]))
    assert report["output_variance_ratio"] < 0.01


def test_dead_code_units_are_detected():
    model = conv()
    with torch.no_grad():
        model.encoder[-1].weight[:3].zero_()  # three code units ignore the input
    train, _ = digits_split()
    with pytest.warns(CollapseWarning, match=r"3 of 8 code units .* are dead"):
        assert check_collapse(model, torch.from_numpy(train[:200]))["dead_units"] == 3


def test_healthy_model_raises_no_collapse_warning():
    train, val = digits_split()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        result = fit(conv(), train, val, config=TrainConfig(epochs=10, batch_size=64, progress=False))
    assert result.diagnostics["dead_units"] == 0


def test_memmap_uses_dataloader_path_and_learns(tmp_path):
    train, val = digits_split()
    path = tmp_path / "x.npy"
    np.save(path, train)
    mm = np.load(path, mmap_mode="r")
    result = fit(conv(), mm, val, config=TrainConfig(epochs=4, batch_size=64, progress=False))
    assert result.history[-1]["val_recon"] < result.history[0]["val_recon"]


def test_progress_bar_can_be_silenced(capfd):
    train, _ = digits_split()
    fit(conv(), train[:128], config=TrainConfig(epochs=1, progress=False))
    assert capfd.readouterr().err == ""
    fit(conv(), train[:128], config=TrainConfig(epochs=1, progress=True))
    assert "training" in capfd.readouterr().err


def test_model_summary_lists_layers_shapes_and_params():
    model = conv()
    text = model_summary(model)
    total = sum(p.numel() for p in model.parameters())
    assert f"Total params: {total:,}" in text
    assert "encoder.0.0 (Conv2d)" in text and "(-1, 8, 4, 4)" in text and "(-1, 1, 8, 8)" in text


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from safetensors.torch import save_file
    from aekit.models import create_model
    from aekit.training import TrainConfig, fit
    from tests.helpers import digits_split
    train, _ = digits_split()
    torch.manual_seed(0)
    model = create_model("conv", input_shape=(1, 8, 8), latent_dim=8, channels=(8, 16))
    fit(model, train[:512], config=TrainConfig(epochs=2, batch_size=128, progress=False, device="cpu"))
    rank = dist.get_rank() if dist.is_initialized() else 0
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1] + f"/rank{rank}.safetensors")
    if dist.is_initialized():
        dist.destroy_process_group()
""")


@pytest.mark.e2e  # two real processes under torchrun (gloo): an end-to-end run, 8-14 s
def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    from safetensors.torch import load_file

    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    (tmp_path / "ddp").mkdir()
    (tmp_path / "single").mkdir()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    str(script), str(tmp_path / "ddp")], check=True, env=env, cwd=ROOT, timeout=300)
    subprocess.run([sys.executable, str(script), str(tmp_path / "single")], check=True, env=env, cwd=ROOT, timeout=300)
    r0, r1 = load_file(tmp_path / "ddp/rank0.safetensors"), load_file(tmp_path / "ddp/rank1.safetensors")
    single = load_file(tmp_path / "single/rank0.safetensors")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"DDP replicas differ in {k}"
        assert torch.allclose(r0[k], single[k], atol=1e-4), f"DDP differs from one process in {k}"


def test_segmentation_trains_with_class_map_targets():
    train, val = digits_split()
    masks = lambda x: np.digitize(x[:, 0], [0.25, 0.75]).astype(np.float32)  # 3 ink levels per pixel  # noqa: E731
    torch.manual_seed(0)
    model = create_model("unet", input_shape=(1, 8, 8), latent_dim=16, channels=(8,), num_classes=3)
    result = fit(model, (train, masks(train)), (val, masks(val)),
                 config=TrainConfig(epochs=4, batch_size=64, progress=False), objective="ce+dice")
    assert {"val_ce", "val_dice"} <= set(result.history[-1])
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_segmentation_loss_needs_a_segmentation_model():
    with pytest.raises(ValueError, match=r"loss='ce' needs a segmentation model with num_classes >= 2"):
        Trainer(conv(), TrainConfig(), objective="ce")


def test_unknown_objective_is_named():
    with pytest.raises(ValueError, match=r"unknown objective 'l1'; registered objectives: .*'bce'"):
        Trainer(conv(), TrainConfig(), objective="l1")


def test_custom_objective_callable_trains():
    from aekit.losses import LossBreakdown

    def l1(out, target):
        err = (out.recon - target).abs().mean()
        return LossBreakdown(err, {"l1": err})

    train, val = digits_split()
    result = fit(conv(), train, val, config=TrainConfig(epochs=3, progress=False), objective=l1)
    assert result.history[-1]["val_l1"] < result.history[0]["val_l1"]


def test_fit_leaves_the_callers_random_state_alone():
    train, _ = digits_split()
    model = conv()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    fit(model, train[:64], config=TrainConfig(epochs=1, progress=False, random_state=1))
    assert torch.equal(torch.rand(3), expected)


def test_validation_every_n_steps_lets_a_callback_stop_mid_epoch(tmp_path):
    train, val = digits_split()
    calls = []

    def stop_on_third(epoch, logs):
        calls.append(logs)
        return len(calls) == 3

    result = fit(conv(), train, val, config=TrainConfig(epochs=5, batch_size=32, val_every_steps=4, progress=False,
                                                        checkpoint_dir=str(tmp_path)), callbacks=[stop_on_third])
    assert [e["step"] for e in result.evaluations] == [4, 8, 12] and result.steps == 12
    assert len(result.history) == 1 and 0 < result.history[0]["eval_time"] < result.history[0]["time"]
    resumed = fit(conv(), train, val, config=TrainConfig(epochs=5, batch_size=32, val_every_steps=4, progress=False,
                                                         checkpoint_dir=str(tmp_path)), resume=True)
    assert resumed.steps == 12  # the run was finished: resuming does not go on
