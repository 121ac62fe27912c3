"""exporter.nn blocks: eager, hybridized (native), saved/loaded, exported."""
import subprocess

import numpy as np

from exporter import nn


def test_mlp_eager_hybridized_and_exported(tmp_path):
    net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(2))
    net.initialize()
    x = np.random.default_rng(0).standard_normal((1, 512)).astype(np.float32)
    eager = net(x)
    assert eager.shape == (1, 2) and eager.dtype == np.float32
    net.hybridize()
    np.testing.assert_allclose(net(x), eager, rtol=1e-5, atol=1e-6)
    net.save_parameters(str(tmp_path / "mlp.npz"))
    other = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(2))
    other.load_parameters(str(tmp_path / "mlp.npz"))
    np.testing.assert_allclose(other(x), eager, rtol=1e-6)
    written = net.export(str(tmp_path / "mlp"))
    assert (tmp_path / "mlp.onnx").exists() and (tmp_path / "mlp").exists() and len(written) == 2
    x4 = np.random.default_rng(1).standard_normal((4, 512)).astype(np.float32)
    np.save(tmp_path / "x.npy", x4)
    proc = subprocess.run([str(tmp_path / "mlp"), "--out", str(tmp_path), str(tmp_path / "x.npy")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "output_0.npy"), other(x4), rtol=1e-5, atol=1e-6)


def test_cnn_blocks_and_embedding_on_both_backends():
    net = nn.Sequential(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(2),
                        nn.Conv2D(6, 3), nn.AvgPool2D(2), nn.Dropout(0.5), nn.Flatten(), nn.Dense(10),
                        nn.LayerNorm())
    net.initialize(3)
    x = np.random.default_rng(2).standard_normal((2, 1, 12, 12)).astype(np.float32)
    eager = net(x)
    for backend in ("native", "onnxruntime"):
        net.hybridize(backend=backend)
        np.testing.assert_allclose(net(x), eager, rtol=1e-4, atol=1e-5)
    emb = nn.Sequential(nn.Embedding(20, 8), nn.Dense(3))
    emb.initialize()
    idx = np.array([[1, 5, 19], [0, 2, 2]], np.int64)
    eager = emb(idx)
    emb.hybridize()
    np.testing.assert_allclose(emb(idx), eager, rtol=1e-5, atol=1e-6)
