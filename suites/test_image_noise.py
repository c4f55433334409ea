"""Image-noise robustness specs.

Thresholds are placeholders, not clinical claims: a team sets its own, with a
clinical justification, before testing.
"""

from hypothesis import given

import medrobust as mr

# the image half of the imc-11 preset: noises that apply to every imaging modality
IMC_IMAGE = ["gaussian_noise", "impulse_noise", "motion_blur", "jpeg", "contrast", "pixelate"]
PHYSICS = ["mri", "ct", "radiography", "ultrasound", "display"]


@given(noise=mr.compositions(noises=IMC_IMAGE, max_noises=2, max_severity=2))
def test_mild_image_noise_keeps_closed_accuracy(bench, noise):
    bench.expect(noise, metric="closed_accuracy", max_drop=0.10)


@given(noise=mr.compositions(modality="image", families=PHYSICS, max_noises=1, max_severity=1))
def test_mild_acquisition_artifacts_keep_answers(bench, noise):
    bench.expect(noise, metric="answer_consistency", min=0.80)
