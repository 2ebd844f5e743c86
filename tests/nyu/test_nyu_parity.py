# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""PyTorch parity: a ResNet-22 written in plain torch from the paper's description, converted
through the documented state_dict -> .npz path, must give the Keras model's outputs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed; PyTorch parity test skipped")
nn = torch.nn

from mammo_tf.nyu import build_resnet22, build_view_wise_model, load_pytorch_arrays  # noqa: E402


class BasicBlockV2(nn.Module):
    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=1, bias=False)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        residual = self.downsample(out) if self.downsample is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + residual


class TorchResNet22(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()
        self.first_conv = nn.Conv2d(in_channels, 16, 7, 2, padding=0, bias=False)
        self.first_pool = nn.MaxPool2d(3, 2, padding=0)
        self.layer_list = nn.ModuleList()
        inplanes = 16
        for i, stride in enumerate((1, 2, 2, 2, 2)):
            planes = 16 * 2 ** i
            down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False))
            self.layer_list.append(nn.Sequential(
                BasicBlockV2(inplanes, planes, stride, down), BasicBlockV2(planes, planes, 1, None)))
            inplanes = planes
        self.final_bn = nn.BatchNorm2d(inplanes)

    def forward(self, x):
        h = self.first_pool(self.first_conv(x))
        for layer in self.layer_list:
            h = layer(h)
        return torch.relu(self.final_bn(h)).mean(dim=(2, 3))


class TorchViewWise(nn.Module):
    def __init__(self, in_channels=1):
        super().__init__()
        self.four_view_resnet = nn.Module()
        cc, mlo = TorchResNet22(in_channels), TorchResNet22(in_channels)
        # aliased modules: the state dict holds each shared column three times
        for name, module in (("cc", cc), ("l_cc", cc), ("r_cc", cc),
                             ("mlo", mlo), ("l_mlo", mlo), ("r_mlo", mlo)):
            setattr(self.four_view_resnet, name, module)
        self.fc1_cc, self.fc1_mlo = nn.Linear(512, 512), nn.Linear(512, 512)
        self.output_layer_cc, self.output_layer_mlo = nn.Module(), nn.Module()
        self.output_layer_cc.fc_layer = nn.Linear(512, 8)
        self.output_layer_mlo.fc_layer = nn.Linear(512, 8)

    def forward(self, x):  # x: dict of NCHW tensors, right views already flipped
        r = self.four_view_resnet
        out = {}
        for vt, col in (("cc", r.cc), ("mlo", r.mlo)):
            h = torch.cat([col(x["l_" + vt]), col(x["r_" + vt])], dim=1)
            h = torch.relu(getattr(self, "fc1_" + vt)(h))
            h = getattr(self, "output_layer_" + vt).fc_layer(h).view(-1, 4, 2)
            out[vt] = torch.softmax(h, dim=-1)
        return out


def randomise_batchnorm(module, seed):
    """Non-trivial BN parameters and running statistics so the conversion is exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 1 + 0.2 * torch.randn(n, generator=g)
            m.bias.data = 0.1 * torch.randn(n, generator=g)
            m.running_mean.data = 0.1 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)


def convert_state_dict(module, path):
    """The documented conversion (mammo_tf.nyu.weights docstring), minus torch.load."""
    state = module.state_dict()
    arrays = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "numpy")}
    np.savez(path, **arrays)


def converted(net, bn_seed, path):
    """``net`` with random BN statistics, in eval mode, saved through the documented .npz path."""
    randomise_batchnorm(net, bn_seed)
    net.eval()
    convert_state_dict(net, path)
    return net


@pytest.mark.parametrize("size", [(129, 97), (128, 96)], ids=["odd", "even"])
def test_column_matches_torch(tmp_path, size):
    torch.manual_seed(0)
    npz = tmp_path / "column.npz"
    net = converted(TorchResNet22(1), 1, npz)
    column = build_resnet22(size + (1,))
    report = load_pytorch_arrays(column, npz)
    # every array of the state dict is read (num_batches_tracked with its BN layer, then ignored)
    assert report["unused"] == [] and report["loaded"] == len(net.state_dict())
    x = np.random.default_rng(3).normal(size=(2, 1) + size).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    got = np.asarray(column(x.transpose(0, 2, 3, 1), training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_view_wise_model_matches_torch(tmp_path):
    torch.manual_seed(4)
    npz = tmp_path / "view_wise.npz"
    net = converted(TorchViewWise(3), 5, npz)
    cc_size, mlo_size = (131, 99), (140, 96)
    model = build_view_wise_model(cc_size, mlo_size, channels=3)
    load_pytorch_arrays(model, npz)
    rng = np.random.default_rng(6)
    x = {v: rng.normal(size=(2, 3) + (cc_size if "cc" in v else mlo_size)).astype("float32")
         for v in ("l_cc", "r_cc", "l_mlo", "r_mlo")}
    # torch gets the right views pre-flipped (as the authors' loader does); Keras flips inside
    torch_in = {v: torch.from_numpy(a[..., ::-1].copy() if v.startswith("r_") else a)
                for v, a in x.items()}
    with torch.no_grad():
        expected = {k: v.numpy() for k, v in net(torch_in).items()}
    got = model({v: a.transpose(0, 2, 3, 1) for v, a in x.items()}, training=False)
    for head in ("cc", "mlo"):
        np.testing.assert_allclose(np.asarray(got[head]), expected[head], atol=1e-4)
