"""Model registry contract: every registered model builds with its published parameter count,
runs forward + backward with outputs matching meta.heads, and exports to ONNX Runtime."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from edgeaffect.errors import ModelError  # noqa: E402
from edgeaffect.meta import HeadKind, ModelMeta, Task  # noqa: E402
from edgeaffect.train.complexity import count, count_macs, count_parameters, count_used_parameters  # noqa: E402
from edgeaffect.train.registry import create_model, list_models, model_info  # noqa: E402

torch.set_num_threads(1)  # the CI machine is shared; spinning threads cost more than they give

# Every registered model (a model registered without a row here fails test_every_registered_model_is_tested).
# name -> (published parameter count at 8 classes / defaults, small build kwargs, small input shapes)
CASES = {
    "ddamfn": (4_106_512, {}, [(2, 3, 112, 112)]),  # 7x7 GDConvs fix the input at 112x112
    "xception": (20_823_344, {"input_size": 96}, [(2, 3, 96, 96)]),
    "mtl_resnet50": (24_822_090, {"input_size": 64}, [(2, 3, 64, 64)]),
    "mtl_efficientnet_b1": (7_434_026, {"input_size": 64}, [(2, 3, 64, 64)]),
    "physnet": (768_577, {"frames": 8, "input_size": 16}, [(2, 3, 8, 16, 16)]),
    "deepphys": (2_228_643, {"frames": 4}, [(2, 3, 4, 72, 72)]),  # the dense layer fixes 72x72
    "seqcnn": (94_033, {"frames": 6, "input_size": 16}, [(2, 3, 6, 16, 16)]),
    "seqcnn_bvp": (94_289, {"frames": 6, "input_size": 16}, [(2, 3, 6, 16, 16), (2, 6)]),
    "bilstm_attention": (174_466, {"input_size": (5, 12)}, [(2, 5, 12)]),
    "resnet18": (11_174_344, {"input_size": 32}, [(2, 1, 32, 32)]),  # torchvision's 11,689,512 with 8 classes, gray stem
    "ensemble": (2 * 11_174_344, {"members": [{"name": "resnet18", "build_kwargs": {"input_size": 32}}] * 2},
                 [(2, 1, 32, 32)]),  # two ResNet-18s: the sum of the members
}
# What a model cannot be built without (an ensemble has no default members)
REQUIRED = {"ensemble": {"members": [{"name": "resnet18", "build_kwargs": {}}] * 2}}


def _inputs(shapes):
    gen = torch.Generator().manual_seed(0)
    return [torch.rand(s, generator=gen) for s in shapes]


def test_every_registered_model_is_tested():
    names = {m.name for m in list_models() if m.family != "test"}  # test modules register their own tiny models
    assert names == set(CASES)
    info = model_info("physnet")
    assert info.task is Task.SIGNAL and info.default_input == (3, 128, 72, 72)
    assert model_info("bilstm_attention").task is Task.TABULAR


def test_unknown_name_suggests_nearest():
    with pytest.raises(ModelError) as err:
        create_model("ddamnf")
    assert "ddamfn" in err.value.fix


def test_unknown_option_is_a_model_error():
    with pytest.raises(ModelError):
        create_model("physnet", frame=16)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameter_count_matches_original(name):
    expected, _, _ = CASES[name]
    model = create_model(name, **REQUIRED.get(name, {}))
    assert abs(count_parameters(model) - expected) <= 0.005 * expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_backward_and_heads(name):
    _, kwargs, shapes = CASES[name]
    model = create_model(name, **kwargs)
    meta = model.meta
    assert isinstance(meta, ModelMeta) and meta.model == name and model.model_name == name
    assert ModelMeta.from_json(meta.to_json()) == meta
    assert model.build_kwargs == kwargs
    model.train()
    inputs = _inputs(shapes)
    out = model(*inputs)
    assert isinstance(out, tuple) and len(out) == len(meta.heads)
    n = shapes[0][0]
    for tensor, head in zip(out, meta.heads):
        if head.kind is HeadKind.SIGNAL:
            assert tensor.shape == (n, shapes[0][2])  # one value per input frame
        else:
            assert tensor.shape == (n, head.size)
        assert torch.isfinite(tensor).all()
        if head.value_range is not None:
            lo, hi = head.value_range
            assert ((tensor >= lo) & (tensor <= hi)).all()
    sum(o.sum() for o in out).backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


def test_labels_and_rebuild_from_build_kwargs():
    model = create_model("ddamfn", labels=["neg", "neu", "pos"])
    assert model.meta.labels == ("neg", "neu", "pos") and model.meta.heads[0].size == 3
    again = create_model(model.model_name, **model.build_kwargs)
    assert again.meta == model.meta
    assert create_model("ddamfn").meta.labels[:2] == ("neutral", "happiness")
    assert create_model("bilstm_attention", num_classes=3).meta.labels == ("class0", "class1", "class2")
    with pytest.raises(ModelError):
        create_model("ddamfn", labels=["a", "b"], num_classes=5)


def test_gray_xception_and_fixed_size_models_reject_bad_sizes():
    gray = create_model("xception", in_chans=1, input_size=96)
    assert gray.meta.channels == 1 and gray(torch.rand(1, 1, 96, 96))[0].shape == (1, 8)
    with pytest.raises(ModelError):
        create_model("ddamfn", input_size=96)
    with pytest.raises(ModelError):
        create_model("physnet", frames=30)
    with pytest.raises(ModelError):
        create_model("mtl_resnet50", pretrained=True, pretrained_file="/nonexistent/weights.pth")


def test_mtl_loads_local_imagenet_weights(tmp_path):
    import timm

    ref = timm.create_model("efficientnet_b1", pretrained=False, num_classes=0)
    path = tmp_path / "effb1.pth"
    torch.save(ref.state_dict(), path)
    model = create_model("mtl_efficientnet_b1", pretrained=True, pretrained_file=str(path))
    assert torch.equal(model.backbone.conv_stem.weight, ref.conv_stem.weight)
    assert "pretrained" not in model.build_kwargs and "pretrained_file" not in model.build_kwargs


def test_ddamfn_attention_loss_and_complexity():
    x = _inputs([(2, 3, 112, 112)])[0]
    one = create_model("ddamfn", num_heads=1)
    (logits,), aux = one.forward_with_aux(x)
    assert logits.shape == (2, 8) and float(aux) == 0.0
    two = create_model("ddamfn")
    (logits2,), aux2 = two.forward_with_aux(x)
    assert torch.isfinite(aux2) and float(aux2) > 0
    assert two.meta.info["aux_loss_weight"] == 0.1
    aux2.backward()  # the loss trains the attention heads
    assert two.heads[0].ca.attn_h.weight.grad is not None

    from edgeaffect.train.models.ddamfn import published_parameter_count

    assert published_parameter_count(two) == 4_187_936  # ours + the never-used layers we left out
    single = x[:1]
    assert count_used_parameters(two, single) == 4_106_512
    assert abs(count_macs(two, single) / 1e9 - 0.552) < 0.03  # conv/matmul MACs only


def test_complexity_counts_lstm_gates():
    model = create_model("bilstm_attention", input_size=(5, 12), layers=1, hidden=8)
    lstm = 2 * 5 * 4 * 8 * (12 + 8)  # directions x steps x gates x hidden x (input + hidden)
    linears = 5 * 16 * 8 + 5 * 8 + 16 * 2  # attention score layers per step + classifier
    assert count_macs(model, torch.rand(1, 5, 12)) == lstm + linears
    bvp = create_model("seqcnn_bvp", frames=4, input_size=16)
    stats = count(bvp, bvp.meta)
    assert stats["parameters"] == stats["used_parameters"] == 94_289 and stats["macs"] > 0


def test_deepphys_motion_input_is_built_inside_forward():
    from edgeaffect.train.models.deepphys import motion_and_appearance

    clip = torch.rand(1, 3, 5, 8, 8) + 0.1
    diff, raw = motion_and_appearance(clip)
    assert diff.shape == clip.shape and torch.count_nonzero(diff[:, :, -1]) == 0
    static = clip[:, :, :1].expand(-1, -1, 5, -1, -1)
    assert torch.allclose(motion_and_appearance(static)[0], torch.zeros_like(clip), atol=1e-3)
    assert abs(float(raw.mean())) < 1e-5 and abs(float(raw.std()) - 1) < 1e-2


@pytest.mark.parametrize("name,kwargs,shape", [
    ("ddamfn", {}, (2, 3, 112, 112)),
    ("physnet", {"frames": 8, "input_size": 16}, (2, 3, 8, 16, 16)),
    ("resnet18", {"channels": (16, 24, 32, 48), "output_stride": 16}, (2, 1, 64, 64)),  # dilated last stage
])
def test_onnx_export_matches_torch(tmp_path, name, kwargs, shape):
    pytest.importorskip("onnxruntime")
    from edgeaffect.compress.onnx_export import export
    from edgeaffect.formats import ExportOptions
    from edgeaffect.runtime.backends import create_backend

    model = create_model(name, **kwargs).eval()
    # non-trivial BatchNorm statistics, so a wrong layout or fused op shows in the outputs
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2, generator=gen)
            m.running_var.uniform_(0.5, 1.5, generator=gen)
    x = _inputs([shape])[0]
    with torch.no_grad():
        (ref,) = model(x)
    files = export(model, model.meta, tmp_path, precision="fp32", calibration=None, options=ExportOptions())
    backend = create_backend("onnxruntime", tmp_path / files[0], model.meta)
    (got,) = backend.infer(x.numpy())
    assert got.shape == tuple(ref.shape) and float(ref.abs().max()) > 1e-3
    assert float(abs(got - ref.numpy()).max()) < 1e-4
    (one,) = backend.infer(x[:1].numpy())  # the batch axis is dynamic
    assert float(abs(one - ref[:1].numpy()).max()) < 1e-4


def test_resnet_output_stride_keeps_a_larger_last_map_for_the_same_weights():
    wide = dict(channels=(16, 24, 32, 48), input_size=64)
    plain, dilated = create_model("resnet18", **wide), create_model("resnet18", output_stride=16, **wide)
    assert count_parameters(plain) == count_parameters(dilated)
    x = torch.rand(2, 1, 64, 64)
    assert plain.net.forward_features(x).shape[-2:] == (2, 2)
    assert dilated.net.forward_features(x).shape[-2:] == (4, 4)
    assert dilated(x)[0].shape == (2, 8)
    with pytest.raises(ModelError, match="output_stride"):
        create_model("resnet18", output_stride=12, **wide)
