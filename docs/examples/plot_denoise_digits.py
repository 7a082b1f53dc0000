"""
Restore: remove noise from images
=================================

A :class:`~aekit.Restorer` learns to undo a corruption from clean images alone: every training step
corrupts them (here with Gaussian noise) and a residual U-Net learns to give back the clean image. It then
restores images of any size.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from aekit import Restorer

images = load_digits().images / 16.0                   # (1797, 8, 8) in [0, 1]
train, test = images[:1500], images[1500:1508]
noisy = np.clip(test + np.random.default_rng(0).normal(0, 0.3, test.shape), 0, 1)

restorer = Restorer(task="denoise", corruption="gaussian:0.3", patch_size=8, n_patches=1500, epochs=8,
                    batch_size=64).fit(train)
restored = restorer.predict(noisy)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


print(f"PSNR noisy {psnr(noisy, test):.2f} dB -> restored {psnr(np.clip(restored, 0, 1), test):.2f} dB")

# %%
# Noisy inputs, their restorations and the originals.
fig, axes = plt.subplots(3, 8, figsize=(8, 3.2))
for row, (name, imgs) in enumerate((("noisy", noisy), ("restored", restored), ("original", test))):
    for i in range(8):
        axes[row, i].imshow(np.asarray(imgs[i]).squeeze(), cmap="gray_r", vmin=0, vmax=1)
        axes[row, i].set_axis_off()
    axes[row, 0].set_title(name, fontsize=9, loc="left")
fig.tight_layout()
plt.show()
