"""``phantom-vqa``: the embedded, procedurally generated medical VQA dataset.

Images are 64x64 grayscale renderings of real anatomical backgrounds (shipped by
pydicom, pydicom-data and scikit-image, loaded offline) with seeded lesions of
known count, side and size; questions follow VQA-RAD / SLAKE templates.
"""

from .dataset import PhantomVQA

__all__ = ["PhantomVQA"]
