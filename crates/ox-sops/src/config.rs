//! `.sops.yaml` creation rules.
