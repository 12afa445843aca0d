"""Tools around the pipeline that are not stages: the dvc.yaml generator and the PR-comment builder."""
