"""
Translate between two domains without pairs
===========================================

A :class:`~aekit.DomainTranslator` learns one encoder shared by two domains and one decoder per domain from
two sets of samples that are not paired: it never sees a sample beside its counterpart. Decoding a sample
of domain "a" with decoder "b" draws it as domain "b" would. Here domain "a" is scikit-learn's digits and
domain "b" the same kind of digits drawn with thick strokes (a grey dilation), each set made of different
digits; the translations of held-out digits are compared with their true thick versions.
"""
import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import grey_dilation
from sklearn.datasets import load_digits

from aekit import DomainTranslator

images = load_digits().images                          # (1797, 8, 8), values 0..16
thick = np.stack([grey_dilation(im, size=(2, 2)) for im in images])
a, b = images[:800], thick[800:1600]                   # different digits: unpaired
held_out, truth = images[1600:], thick[1600:]

# images: "auto" picks the convolutional family for the encoder and the decoders
translator = DomainTranslator(latent_dim=16, epochs=40).fit(a, b)
drawn = translator.translate(held_out, to="b")         # (197, 8, 8)
print(f"MSE to the true thick digits: translated {np.mean((drawn - truth) ** 2):.2f}, "
      f"thin as they are {np.mean((held_out - truth) ** 2):.2f}")

# %%
# Held-out digits (top), their translations to thick strokes (middle) and the true thick
# digits (bottom).
fig, axes = plt.subplots(3, 10, figsize=(8, 2.8))
for i in range(10):
    for row, img in enumerate((held_out[i], drawn[i], truth[i])):
        axes[row, i].imshow(img, cmap="gray_r", vmin=0, vmax=16)
        axes[row, i].set_axis_off()
for row, name in enumerate(("digit", "translated", "thick")):
    axes[row, 0].set_title(name, fontsize=8, loc="left")
fig.tight_layout()
plt.show()
