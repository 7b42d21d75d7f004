//! Forge adapters (to be written).
