"""Knowledge distillation (``loss.teacher`` / ``loss.distill``): the teacher loaded from a real checkpoint,
the term in the loss, what it refuses, and a training run that records its teacher portably."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgeaffect.cli import main  # noqa: E402
from edgeaffect.errors import ConfigError  # noqa: E402
from edgeaffect.train.registry import create_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_readme import tiny_ferplus  # noqa: E402

PRIOR = torch.tensor((0.34, 0.29, 0.12, 0.13, 0.08, 0.0065, 0.026, 0.0075))
SLIM = {"in_chans": 1, "channels": [8, 8, 16, 16], "input_size": 32}


def _teacher_run(folder: Path, *, logit_adjust: float = 0.0, seed: int = 3, adjust=None, **build) -> Path:
    from edgeaffect.train.checkpoint import save_checkpoint
    from edgeaffect.train.config import TrainConfig

    torch.manual_seed(seed)
    model = create_model("resnet18", **{**SLIM, **build}, **({"adjust": adjust} if adjust else {}))
    config = TrainConfig.from_dict({"model": {"name": "resnet18"}, "loss": {"logit_adjust": logit_adjust}})
    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.pt", model=model, epoch=1, best=None, config=config)
    return folder


def test_the_distillation_term_is_tempered_kl_in_training_only(tmp_path):
    from edgeaffect.train.config import LossConfig
    from edgeaffect.train.distill import Teacher, kd_loss
    from edgeaffect.train.losses import MultiTaskLoss

    meta = create_model("resnet18", **SLIM).meta
    # a tuned teacher: trained logit-adjusted, with an in-graph correction that distillation must leave out
    teacher = Teacher(_teacher_run(tmp_path / "t", logit_adjust=1.0,
                                   adjust={"tau": 0.5, "prior": tuple(PRIOR.tolist()), "hflip": True}),
                      meta, device=torch.device("cpu"))
    x, z = torch.randn(5, 1, 32, 32), torch.randn(5, 8)
    batch = {"x": x, "label": torch.tensor([0, 1, 2, 5, 7])}
    config = LossConfig(teacher="t", distill=0.25, temperature=3.0)
    loss = MultiTaskLoss(meta, config, prior=PRIOR, teacher=teacher)
    plain, _ = MultiTaskLoss(meta, LossConfig(), prior=PRIOR)((z,), batch)
    with torch.no_grad():
        raw = teacher.model.net(x)  # the network without its tuned correction or mirror averaging
    want = 0.75 * plain + 0.25 * kd_loss(z, raw + PRIOR.log(), 3.0)  # teacher put back in train-prior space
    got, parts = loss((z,), batch, train=True)
    assert float(got) == pytest.approx(float(want), rel=1e-5) and "distill" in parts
    assert float(loss((z,), batch)[0]) == pytest.approx(float(plain), rel=1e-6)  # validation: comparable to any run
    assert float(kd_loss(raw, raw, 3.0)) == pytest.approx(0.0, abs=1e-6) and float(kd_loss(z, raw, 3.0)) > 0.01


def test_a_student_trained_on_the_teacher_alone_comes_to_agree_with_it(tmp_path):
    from edgeaffect.train.config import LossConfig
    from edgeaffect.train.distill import Teacher
    from edgeaffect.train.losses import MultiTaskLoss

    torch.manual_seed(0)
    student = create_model("resnet18", **SLIM)
    teacher = Teacher(_teacher_run(tmp_path / "t", input_size=48), student.meta, device=torch.device("cpu"))
    assert teacher.size == (48, 48)  # a teacher at another side gets the batch resized
    loss = MultiTaskLoss(student.meta, LossConfig(teacher="t", distill=1.0, temperature=1.0), teacher=teacher)
    x = torch.randn(32, 1, 32, 32)
    batch = {"x": x, "label": torch.zeros(32, dtype=torch.long)}  # labels that distill=1 must ignore

    def agreement() -> float:
        student.eval()
        with torch.no_grad():
            return float((student(x)[0].argmax(1) == teacher(x).argmax(1)).float().mean())

    before = agreement()
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    for _ in range(60):
        student.train()
        value, _ = loss(student(x), batch, train=True)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert agreement() >= max(0.9, before + 0.2)


def test_a_teacher_that_does_not_fit_the_student_is_refused(tmp_path):
    from edgeaffect.train.config import TrainConfig
    from edgeaffect.train.distill import Teacher

    meta = create_model("resnet18", **SLIM).meta
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match="classes"):
        Teacher(_teacher_run(tmp_path / "seven", num_classes=7), meta, device=cpu)
    with pytest.raises(ConfigError, match="inputs"):
        Teacher(_teacher_run(tmp_path / "rgb", in_chans=3), meta, device=cpu)
    for half in ({"teacher": "runs/t"}, {"distill": 0.5}):
        with pytest.raises(ConfigError, match="go together"):
            TrainConfig.from_dict({"loss": half})
    with pytest.raises(ConfigError, match="loss.distill"):
        TrainConfig.from_dict({"loss": {"teacher": "runs/t", "distill": 1.5}})


@pytest.mark.slow
def test_a_distilled_run_trains_and_records_its_teacher_relative_to_itself(tmp_path, capsys):
    import yaml

    data = tiny_ferplus(tmp_path / "ferplus")
    teacher = _teacher_run(tmp_path / "runs" / "teacher")
    common = [f"data={data}", "epochs=1", "batch=8", "model.input_size=32", "model.options.channels=[8,8,16,16]",
              "progress=false", "runtime.precision=fp32"]
    student = tmp_path / "runs" / "student"
    code = main(["train", "ferplus-default", *common, f"out={student}", f"loss.teacher={teacher}", "loss.distill=0.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    saved = yaml.safe_load((student / "config.yaml").read_text())
    assert saved["loss"]["teacher"] == "../teacher" and saved["loss"]["distill"] == 0.5
    assert str(tmp_path) not in (student / "config.yaml").read_text()
    # a missing teacher is a clear error before any training, not a traceback
    code = main(["train", "ferplus-default", *common, f"out={tmp_path / 'x'}", f"loss.teacher={tmp_path / 'nosuch'}",
                 "loss.distill=0.5"])
    captured = capsys.readouterr()
    assert code == 2 and "nosuch" in captured.err and "Traceback" not in captured.err
