"""pruneflow's stages: each module has a pure, typed core and a thin `run(cfg)` edge."""
