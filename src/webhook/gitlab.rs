//! GitLab webhook normalizer (to be written).
