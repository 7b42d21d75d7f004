//! bosun's own store as a target: [`Action::Remember`] keeps a fact about a PR; CI contexts
//! read from the forge ([`Fact::Ci`]) are kept as CI state, as their events would have been.
//! [`Action::BindChatUser`] redeems a chat user's one-time code and keeps their binding.
//! Writing a fact again replaces it with itself, and a code redeemed again by the same action
//! is the same redemption, so an action found `applying` is simply applied again; a store
//! failure stops the delivery like any other store failure.

use super::{EffectError, Target};
use crate::store::{Store, StoredAction};
use async_trait::async_trait;
use bosun_plugins::{Action, CiEvent, Fact, ForgeError};
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
        if let Action::BindChatUser { code_hash, .. } = &stored.action {
            *calls += 1;
            let now = chrono::Utc::now().timestamp_millis();
            if self
                .store
                .redeem_binding_code(code_hash, stored.id, now)
                .await?
            {
                return Ok(());
            }
            return Err(ForgeError::Conflict("the binding code was already used".into()).into());
        }
        let Action::Remember { item, fact } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a record action", stored.kind)).into(),
            );
        };
        *calls += 1;
        if let Fact::Ci { sha, contexts } = fact {
            let now = chrono::Utc::now().timestamp_millis();
            for c in contexts {
                let event = CiEvent {
                    forge: item.forge,
                    repo: item.repo.clone(),
                    system: c.system,
                    sha: sha.clone(),
                    number: Some(item.number),
                    context: c.context.clone(),
                    state: c.state,
                    url: c.url.clone(),
                    run_id: c.run_id.clone(),
                };
                self.store.record_ci(&event, now).await?;
            }
            return Ok(());
        }
        self.store.remember_fact(item, &stored.plugin, fact).await?;
        Ok(())
    }
}
