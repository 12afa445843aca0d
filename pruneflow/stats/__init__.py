"""Statistics of a run's accuracies, pure (scipy and statsmodels; no TensorFlow).

- `paired`: the paired test of one accuracy difference on the same test images (bootstrap CI, exact McNemar);
- `differences`: every accuracy difference of a run, paired, gathered into metrics.json's `significance`;
- `noise`: the run's own noise around a timing (`noise_band`) and whether a change between two runs
  exceeds it (`verdict`), for the PR comment's timings;
- `seeds`: the headline models' accuracy spread over seeds.

`evaluation` computes with them; `report` words them.
"""
