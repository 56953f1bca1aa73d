//! The schema cache actor: what the target SObject's fields allow.
//!
//! Writers ask it for the SObject's describe (createable/updateable per field, types,
//! External ID flags) before building a request. It fetches once, serves from memory,
//! and fetches again when a writer reports that Salesforce refused a field the cached
//! describe allowed (`INVALID_FIELD`: the org's schema changed under us).

use crate::salesforce::client::SalesforceClient;
use crate::salesforce::describe::{DescribeCache, SObjectSchema};
use actix::{Actor, Context, Handler, Message, ResponseFuture};
use std::sync::Arc;

/// The describe of an SObject.
#[derive(Message)]
#[rtype(result = "Result<Arc<SObjectSchema>, String>")]
pub struct GetSchema(pub String);

/// Forget the describe of an SObject; the next [`GetSchema`] fetches it again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshSchema(pub String);

/// The schema cache actor.
pub struct SchemaCache {
    client: SalesforceClient,
    cache: Arc<DescribeCache>,
}

impl SchemaCache {
    /// A cache fetching through `client`.
    pub fn new(client: SalesforceClient) -> Self {
        Self {
            client,
            cache: Arc::new(DescribeCache::new()),
        }
    }
}

impl Actor for SchemaCache {
    type Context = Context<Self>;
}

impl Handler<GetSchema> for SchemaCache {
    type Result = ResponseFuture<Result<Arc<SObjectSchema>, String>>;

    fn handle(&mut self, msg: GetSchema, _ctx: &mut Self::Context) -> Self::Result {
        let cache = self.cache.clone();
        let client = self.client.clone();
        Box::pin(async move {
            cache
                .get_or_fetch(&client, &msg.0)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

impl Handler<RefreshSchema> for SchemaCache {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: RefreshSchema, _ctx: &mut Self::Context) -> Self::Result {
        let cache = self.cache.clone();
        let client = self.client.clone();
        Box::pin(async move {
            if let Err(e) = cache.refresh(&client, &msg.0).await {
                tracing::warn!("describe of {} could not be refreshed: {e}", msg.0);
            }
        })
    }
}
