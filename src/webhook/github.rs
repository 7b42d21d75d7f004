//! GitHub webhook normalizer (to be written).
