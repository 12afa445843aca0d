"""Command-line tools around the pipeline that are not stages (`python -m pruneflow.tools.<name>`).

- `dvc_yaml`: write dvc.yaml from the stage table;
- `repro`: `make run`'s runner (independent stages side by side, a benchmark alone), with `scheduler`
  (which stage next) and `progress` (the time left);
- `headline`: the early headline printed while the rest of the run goes on;
- `breakdown`: where the last run's time went, by stage and phase;
- `pr_comment`: the PR comment (headline, changes, timings against the run's noise), with `revisions`
  (the git and DVC plumbing that reads a file at a revision);
- `backbone`: train the seed preset's backbone weights;
- `folders`: a folder of images per class written from the embedded data (for trying `data.source: folder`);
- `zoo`: the keras.applications zoo table (`make zoo`).
"""
