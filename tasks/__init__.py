"""The pipeline's stage edges, one module per stage and named as the stage: each reads its inputs,
calls the `pruneflow` library and publishes its outputs. A stage imports the library, never another
stage, so editing one stage's code reruns only that stage (and what reads its outputs)."""
