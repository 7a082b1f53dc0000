"""
Generate: new digits
====================

A :class:`~aekit.Generator` learns to draw new samples: here a convolutional autoencoder with a Gaussian
mixture fitted to its codes (``density="gmm"``); :meth:`~aekit.Generator.sample` decodes codes drawn from
the mixture and :meth:`~aekit.Generator.interpolate` walks between two images through the code space.
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from aekit import Generator

images = load_digits().images                          # (1797, 8, 8), values 0..16
generator = Generator(latent_dim=8, model="conv", density="gmm", epochs=15, batch_size=64).fit(images)
samples = generator.sample(24)                         # (24, 8, 8), the data's units
path = generator.interpolate(images[0], images[1], steps=8)  # from a 0 to a 1
print(samples.shape, path.shape)

# %%
# Samples (three rows) and an interpolation from a 0 to a 1 (last row).
fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
for i, ax in enumerate(axes[:3].ravel()):
    ax.imshow(samples[i], cmap="gray_r")
for i, ax in enumerate(axes[3]):
    ax.imshow(path[i].squeeze(), cmap="gray_r")
for ax in axes.ravel():
    ax.set_axis_off()
fig.tight_layout()
plt.show()
