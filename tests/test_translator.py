"""DomainTranslator: a shared encoder and one decoder per domain, trained on unpaired sets; the MNIST check where
the truth is known (thin -> thick strokes) is in the quality tier (the full one: benchmarks/translation.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit import DomainTranslator, Reducer, create_model
from aekit.metrics import psnr
from helpers import digits


def test_each_row_goes_through_the_decoder_of_its_domain():
    model = create_model("shared-encoder", input_shape=(6,), latent_dim=3, base_params={"hidden": [8]})
    x, domain = torch.randn(5, 6), torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        out = model(x, domain)
        z = model.encode(x)
        for i, d in enumerate(domain.tolist()):
            torch.testing.assert_close(out.recon[i], model.decode(z[i:i + 1], d)[0])
    assert not torch.equal(model.decode(z, 0), model.decode(z, 1))   # two decoders, each its own weights


def test_translate_gives_samples_of_the_asked_domain_and_checks_its_inputs():
    X = digits()[0].reshape(-1, 64)
    est = DomainTranslator(latent_dim=4, epochs=1, model_params={"hidden": [16]}).fit(X[:100], 1 - X[100:160])
    assert est.translate(X[:3], to="b").shape == (3, 64) and est.transform(X[:3]).shape == (3, 4)
    with pytest.raises(ValueError, match=r"to='c'; expected one of \('a', 'b'\)"):
        est.translate(X[:3], to="c")
    with pytest.raises(ValueError, match="fit takes two sets of samples"):
        DomainTranslator(epochs=1).fit(X[:20], None)
    with pytest.raises(ValueError, match="features"):
        DomainTranslator(epochs=1).fit(X[:20], X[:20, :10])


@pytest.mark.quality
def test_thin_to_thick_digits_beat_the_identity_and_separate_encoders():
    """MNIST as drawn vs other digits thickened (3 x 3 grey dilation), 8,000 training digits, unpaired: on 1,000
    test digits the translation's PSNR against the true thickened digits is above the input's and above two
    Reducers with separate encoders (same family, size and budget)."""
    from scipy.ndimage import grey_dilation

    from aekit.data import DataError, load_dataset

    try:
        ds = load_dataset("mnist", download=False)
    except (DataError, OSError) as exc:   # never the network in tests
        pytest.skip(f"real MNIST is not in AEKIT_DATA_DIR ({exc})")

    def thick(x):
        return grey_dilation(x, size=(1, 1, 3, 3))

    x, test = ds.train.X[:8000] / 255.0, ds.test.X[:1000] / 255.0
    budget = {"latent_dim": 32, "epochs": 5, "model": "mlp"}
    shared = DomainTranslator(**budget).fit(x[:4000], thick(x[4000:]))
    a, b = Reducer(**budget).fit(x[:4000]), Reducer(**budget).fit(thick(x[4000:]))
    truth = thick(test)
    ours = psnr(truth, np.clip(shared.translate(test, to="b"), 0, 1))
    apart = psnr(truth, np.clip(b.inverse_transform(a.transform(test)), 0, 1))
    assert ours > psnr(truth, test) + 1 and ours > apart + 1, (ours, psnr(truth, test), apart)
