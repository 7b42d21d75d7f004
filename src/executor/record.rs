//! bosun's own store as a target: [`Action::Remember`] keeps a fact about a PR. Writing a fact
//! again replaces it with itself, so an action found `applying` is simply applied again; a
//! store failure stops the delivery like any other store failure.

use super::{EffectError, Target};
use crate::store::{Store, StoredAction};
use async_trait::async_trait;
use bosun_plugins::{Action, ForgeError};
use std::sync::Arc;

/// Facts about PRs, kept in the store.
pub struct RecordTarget {
    store: Arc<dyn Store>,
}

impl RecordTarget {
    /// Records into `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        RecordTarget { store }
    }
}

#[async_trait]
impl Target for RecordTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        _maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let Action::Remember { item, fact } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a record action", stored.kind)).into(),
            );
        };
        *calls += 1;
        self.store.remember_fact(item, &stored.plugin, fact).await?;
        Ok(())
    }
}
