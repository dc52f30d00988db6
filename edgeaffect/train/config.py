"""TrainConfig: every training option, typed, with one precedence rule.

defaults < YAML recipe < command-line ``key=value`` overrides.  Keys are dotted
(``optim.lr=0.001``), a unique leaf name (``momentum=0.8``) or a short alias
(``data=PATH epochs=1 batch=32``).  An unknown key raises :class:`ConfigError`
naming the nearest known key.  The resolved config is written to every run
folder as ``config.yaml`` and stored in every checkpoint (as plain values).
"""
from __future__ import annotations

import enum
import math
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Mapping

from edgeaffect.errors import ConfigError, unknown_name
from edgeaffect.keyvalue import coerce, split_pairs
from edgeaffect.plain import PlainError, from_plain, to_plain


class Optimizer(str, enum.Enum):
    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"


class Schedule(str, enum.Enum):
    NONE = "none"
    STEP = "step"  # StepLR: lr *= gamma every step_size epochs
    PLATEAU = "plateau"  # ReduceLROnPlateau on the monitored metric
    COSINE = "cosine"
    ONECYCLE = "onecycle"  # OneCycleLR stepped every batch: warm-up to optim.lr, then cosine decay


class Balance(str, enum.Enum):
    NONE = "none"
    SAMPLER = "sampler"  # class-balanced weighted sampling
    WEIGHTS = "weights"  # class-weighted cross-entropy


class Precision(str, enum.Enum):
    AUTO = "auto"  # fp16 AMP on CUDA, fp32 on CPU
    FP32 = "fp32"
    BF16 = "bf16"  # autocast to bfloat16 (CPU or CUDA)
    FP16 = "fp16"  # CUDA AMP with a grad scaler


class SignalNorm(str, enum.Enum):
    ZSCORE = "zscore"  # standardise each target window (the trace's shape is what is learnt)
    SUBJECT = "subject"  # standardise with each subject's statistics (levels across tasks are learnt too)
    NONE = "none"


@dataclass(kw_only=True)
class DataConfig:
    path: str = ""  # dataset folder; empty = the built-in synthetic data named by ``synthetic``
    format: str | None = None
    options: dict = field(default_factory=dict)  # reader options, e.g. {mode: majority} or {fps: 4, window: 32}
    synthetic: str = ""  # built-in data kind (faces | videos | tabular), generated into ``cache`` when absent
    synthetic_options: dict = field(default_factory=dict)
    cache: str = ""  # where synthetic data is generated; empty = ~/.cache/edgeaffect
    train_split: str = "train"
    valid_split: str = "valid"
    test_split: str = "test"
    limit_train: int = 0  # 0 = all; else the first N records after a seeded shuffle
    limit_valid: int = 0
    limit_test: int = 0
    balance: Balance = Balance.NONE
    augment: bool = False
    augment_options: dict = field(default_factory=dict)  # AugmentConfig fields
    signal_norm: SignalNorm = SignalNorm.ZSCORE
    in_memory: bool = False  # images: decode each split once into a uint8 tensor, augment whole batches
    workers: int = 0


@dataclass(kw_only=True)
class ModelConfig:
    name: str = "ddamfn"
    pretrained: bool = False
    input_size: int | None = None  # square side; None = the family's default
    frames: int | None = None  # clip length of video models
    init: str = ""  # run folder or checkpoint whose weights start the training (fine-tuning)
    options: dict = field(default_factory=dict)  # family build kwargs, e.g. {num_heads: 2}
    # build kwargs changed on the model.init checkpoint: only those that keep its weights' shapes
    # (a ResNet's output_stride, drop_rate), e.g. to fine-tune a trained network with a dilated last stage
    init_options: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class OptimConfig:
    name: Optimizer = Optimizer.SGD
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch: int = 32
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    bn_recalibrate: int = 0  # before each validation, re-estimate BatchNorm statistics over this many train batches


@dataclass(kw_only=True)
class ScheduleConfig:
    name: Schedule = Schedule.NONE
    epochs: int = 10
    step_size: int = 10
    gamma: float = 0.1
    factor: float = 0.5  # ReduceLROnPlateau
    patience: int = 4  # ReduceLROnPlateau
    early_stop: int = 0  # epochs without improvement before stopping; 0 = off
    warmup: float = 0.25  # onecycle: fraction of the steps spent rising to optim.lr
    monitor: str = "loss"  # validation metric that picks best.pt (loss, accuracy, macro_f1, eda_pearson, ...)


@dataclass(kw_only=True)
class LossConfig:
    soft_targets: bool = False  # cross-entropy against the soft label (FER+ probability mode)
    label_smoothing: float = 0.0
    mse: float = 1.0  # signal heads: weight of the MSE term
    pearson: float = 0.0  # signal heads: weight of the negative-Pearson term
    task_weights: dict = field(default_factory=dict)  # head name -> weight (default 1.0)
    aux_weight: float = 0.0  # weight of a model's auxiliary loss (DDAMFN attention loss)
    # Logit-adjusted loss (Menon et al., ICLR 2021): the classifier is trained on logits + tau * log(prior),
    # prior = the training split's class frequencies, so its own logits come out balanced (each class
    # judged as if all were equally common).  0 = plain cross-entropy.
    logit_adjust: float = 0.0
    # Knowledge distillation (edgeaffect.train.distill): a trained classifier run whose predictions the logits head
    # also learns, with weight ``distill`` (0 = off) at ``temperature``.
    teacher: str = ""
    distill: float = 0.0
    temperature: float = 2.0


@dataclass(kw_only=True)
class RuntimeConfig:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Precision = Precision.AUTO
    channels_last: bool = True
    threads: int = 0  # torch CPU threads; 0 = OMP_NUM_THREADS, else the usable cores (/ processes under DDP)
    seed: int = 0
    deterministic: bool = True
    out: str = ""  # run folder; empty = <runs_dir>/<recipe>-<timestamp>
    runs_dir: str = "runs"
    resume: bool = False
    stop_after_epoch: int = 0  # end the run after this epoch's checkpoint (as a kill would); 0 = off
    progress: bool = True


@dataclass(kw_only=True)
class TrainConfig:
    recipe: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        check_ranges(self)
        if bool(self.loss.teacher) != bool(self.loss.distill):  # one without the other would silently do nothing
            raise ConfigError("loss.teacher and loss.distill go together" + (
                f" (teacher {self.loss.teacher} with loss.distill=0)" if self.loss.teacher else " (loss.distill without a teacher)"),
                "set both, e.g. loss.teacher=runs/teacher loss.distill=0.5, or neither")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        try:
            return from_plain(cls, data, leaf=_coerce, unknown=_refuse)
        except PlainError as exc:
            raise ConfigError(f"config section '{exc.where or 'root'}': {exc.reason}", "fix the recipe YAML") from None


# Allowed values of numeric keys, checked when a config is built: (lowest, highest), None = open; a float lowest
# is exclusive (lr=0 trains nothing).  A bad value must fail before any data loads, not exit 0 with an empty run
# folder (epochs=-1) or crash inside the DataLoader (batch=0).
RANGES: dict[str, tuple[float | None, float | None]] = {
    "optim.batch": (1, None), "schedule.epochs": (1, None), "optim.lr": (0.0, None),
    "optim.momentum": (0, 1), "optim.weight_decay": (0, None), "optim.grad_clip": (0, None),
    "optim.bn_recalibrate": (0, None), "schedule.step_size": (1, None), "schedule.gamma": (0.0, None),
    "schedule.factor": (0.0, 1), "schedule.patience": (0, None), "schedule.early_stop": (0, None),
    "schedule.warmup": (0.0, 1), "loss.label_smoothing": (0, 1), "loss.mse": (0, None), "loss.pearson": (0, None),
    "loss.aux_weight": (0, None), "loss.logit_adjust": (0, 4), "loss.distill": (0, 1), "loss.temperature": (0.0, None),
    "data.limit_train": (0, None), "data.limit_valid": (0, None),
    "data.limit_test": (0, None), "data.workers": (0, None), "model.input_size": (1, None), "model.frames": (1, None),
    "runtime.threads": (0, None), "runtime.stop_after_epoch": (0, None),
}


def check_ranges(config: "TrainConfig") -> None:
    """Raise :class:`ConfigError` naming the first key whose value is out of its range."""
    for key, (low, high) in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if value is None or isinstance(value, bool):
            continue
        too_low = low is not None and (value <= low if isinstance(low, float) else value < low)
        if too_low or (high is not None and value > high) or not math.isfinite(value):  # nan passes both tests
            above = "" if low is None else f"> {low:g}" if isinstance(low, float) else f">= {low}"
            below = "" if high is None else f"<= {high}"
            wanted = " and ".join(b for b in (above, below) if b)
            raise ConfigError(f"config key '{key}' is {value!r}; it must be {wanted}",
                              f"set {key}= to a value {wanted}")


# Short names accepted on the command line.
ALIASES = {
    "data": "data.path", "epochs": "schedule.epochs", "batch": "optim.batch", "lr": "optim.lr",
    "model": "model.name", "out": "runtime.out", "seed": "runtime.seed", "device": "runtime.device",
    "resume": "runtime.resume", "precision": "runtime.precision", "size": "model.input_size",
    "workers": "data.workers", "monitor": "schedule.monitor", "schedule": "schedule.name", "optimizer": "optim.name",
}


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """One leaf value of a recipe or override, checked against its field's type (:func:`from_plain`'s leaf)."""
    return coerce(tp, value, f"config key {where}")


def _refuse(key: str) -> None:
    raise _unknown(key)


def all_keys() -> list[str]:
    """Every dotted key a config accepts."""
    out: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            (walk(hints[f.name], f"{prefix}{f.name}.") if is_dataclass(hints[f.name]) else out.append(prefix + f.name))

    walk(TrainConfig, "")
    return out


def _unknown(key: str) -> ConfigError:
    section = key.split(".", 1)[0] + "." if "." in key else ""
    known = [k for k in all_keys() if section and k.startswith(section)] or sorted(ALIASES)
    return unknown_name("config key", key, all_keys() + list(ALIASES), cutoff=0.5,
                        fix=f"known keys{' in ' + section[:-1] if section else ''}: " + ", ".join(known))


def resolve_key(key: str) -> str:
    """A command-line key -> its dotted path (aliases and unique leaf names allowed)."""
    keys = all_keys()
    if key in ALIASES:
        return ALIASES[key]
    if key in keys:
        return key
    # ``options`` dicts take free sub-keys: model.options.num_heads=2
    for k in keys:
        if key.startswith(k + ".") and k.endswith("options"):
            return key
    leaf = [k for k in keys if k.rsplit(".", 1)[-1] == key]
    if len(leaf) == 1:
        return leaf[0]
    if len(leaf) > 1:
        raise ConfigError(f"config key '{key}' is ambiguous ({', '.join(leaf)})", "use the dotted name")
    raise _unknown(key)


def key_type(dotted: str) -> Any:
    """The declared type of a dotted config key (``optim.lr`` -> float)."""
    cls: Any = TrainConfig
    for part in dotted.split("."):
        if not is_dataclass(cls):  # a key inside a free-form mapping (model.options.num_heads): read as YAML
            return Any
        cls = typing.get_type_hints(cls)[part]
    return cls


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["optim.lr=0.001", "epochs=1"]`` -> a nested dict, each value typed by its key's declared type."""
    nested: dict[str, Any] = {}
    for key, raw in split_pairs(items, "config override").items():
        dotted = resolve_key(key)
        path = dotted.split(".")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = coerce(key_type(dotted), raw, f"config key {dotted}")
    return nested


def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``top`` over ``base`` (new dict); an empty mapping in ``top`` clears the base's."""
    out = dict(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and v and isinstance(out.get(k), Mapping) else v
    return out


# The keys that hold paths: a run folder records them portably (edgeaffect.portable), relative to itself.
PATH_KEYS = (("data", "path"), ("data", "cache"), ("model", "init"), ("loss", "teacher"), ("runtime", "out"), ("runtime", "runs_dir"))


def _map_paths(data: Mapping[str, Any], fix) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for section, key in PATH_KEYS:
        if isinstance(out.get(section), dict) and out[section].get(key):
            out[section][key] = fix(str(out[section][key]))
    return out


def saved_config(config: TrainConfig | Mapping[str, Any], base) -> dict[str, Any]:
    """The config as a run folder ``base`` stores it: plain values, paths relative to the folder."""
    from edgeaffect.portable import portable

    data = config.to_dict() if isinstance(config, TrainConfig) else config
    return _map_paths(data, lambda p: portable(p, base))


def loaded_config(data: Mapping[str, Any], base) -> dict[str, Any]:
    """A stored config with its paths read back against the run folder ``base`` that stored it."""
    from edgeaffect.portable import resolved

    return _map_paths(data, lambda p: resolved(p, base))


def config_to_yaml(config: TrainConfig, base=None) -> str:
    import yaml

    return yaml.safe_dump(config.to_dict() if base is None else saved_config(config, base), sort_keys=False)
