//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A batch whose writer schemas (Avro, JSON Schema) are not all cached waits
//! for the Schema Registry before it is decoded, holding back later batches so order
//! is kept; a registry that stays down past the retry budget fails the task (the
//! records are not bad). A record that cannot be used (not JSON, a type that contradicts its schema,
//! an unknown `_EventType`, a tombstone, no `Id` where the operation needs one) is a
//! bad record: with `errors.tolerance=none` it halts the task, naming the record; with
//! `all` it goes to the dead-letter queue and processing goes on.

use crate::config::connector::ErrorTolerance;
use crate::config::ConnectorConfig;
use crate::pipeline::halt::{Halt, HaltActor, HaltReason};
use crate::pipeline::messages::{Change, RawMessage, RecordBatch, Submit};
use crate::pipeline::plan::WriteGroup;
use crate::pipeline::reporter::{Report, Reporter};
use crate::pipeline::sequencer::Sequencer;
use crate::record::registry::{BatchSchemas, RegistryError};
use crate::record::{RawRecord, RecordConverters};
use actix::{Actor, ActorFutureExt, Addr, AtomicResponse, Context, Handler, WrapFuture};
use std::sync::Arc;

/// The decoder actor.
pub struct Decoder {
    config: Arc<ConnectorConfig>,
    converters: Arc<RecordConverters>,
    keep_value: bool,
    sequencer: Addr<Sequencer>,
    reporter: Addr<Reporter>,
    halt: Addr<HaltActor>,
}

impl Decoder {
    /// A decoder for `config`'s records.
    pub fn new(
        config: Arc<ConnectorConfig>,
        sequencer: Addr<Sequencer>,
        reporter: Addr<Reporter>,
        halt: Addr<HaltActor>,
    ) -> Self {
        let converters = Arc::new(RecordConverters::from_config(&config));
        let keep_value = config.errors.dlq_topic.is_some();
        Self {
            config,
            converters,
            keep_value,
            sequencer,
            reporter,
            halt,
        }
    }

    /// Decodes one record and decides its operation.
    fn to_change(&self, raw: &RawMessage, schemas: &BatchSchemas) -> Result<Change, String> {
        let record = self
            .converters
            .decode(
                RawRecord {
                    coords: raw.coords.clone(),
                    timestamp: raw.timestamp,
                    key: raw.key.as_deref(),
                    value: raw.value.as_deref(),
                },
                schemas,
            )
            .map_err(|e| e.to_string())?;
        let operation = self.config.operation_for(record.event_type)?;
        let group = WriteGroup::for_operation(operation, self.config.use_custom_id_field);
        if group.needs_id() && record.id.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "the record has no Id, which a {} needs",
                operation.as_str()
            ));
        }
        Ok(Change {
            record,
            operation,
            group,
            raw_key: raw.key.clone(),
            raw_value: if self.keep_value {
                raw.value.clone()
            } else {
                None
            },
        })
    }
}

impl Actor for Decoder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4);
    }
}

impl Handler<RecordBatch> for Decoder {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: RecordBatch, _ctx: &mut Self::Context) -> Self::Result {
        let cached = self
            .converters
            .cached_schemas(msg.0.iter().map(|r| (r.key.as_deref(), r.value.as_deref())));
        match cached {
            Ok(schemas) => {
                let changes = self.decode_batch(msg.0, &schemas);
                let submit = submit(self.sequencer.clone(), changes);
                AtomicResponse::new(Box::pin(submit.into_actor(self)))
            }
            Err(wanted) => {
                let converters = self.converters.clone();
                let fetch = async move { converters.fetch_schemas(wanted).await };
                AtomicResponse::new(Box::pin(fetch.into_actor(self).then(
                    move |fetched, act, _ctx| {
                        let changes = match fetched {
                            Ok(schemas) => act.decode_batch(msg.0, &schemas),
                            Err(e) => {
                                act.halt_on_registry(e, &msg.0);
                                Vec::new()
                            }
                        };
                        submit(act.sequencer.clone(), changes).into_actor(act)
                    },
                )))
            }
        }
    }
}

/// Hands decoded changes to the sequencer; the batch counts as taken once it has them.
async fn submit(sequencer: Addr<Sequencer>, changes: Vec<Change>) {
    if !changes.is_empty() {
        let _ = sequencer.send(Submit(changes)).await;
    }
}

impl Decoder {
    /// Decodes a batch whose schemas are at hand; bad records go to the DLQ or halt
    /// the task.
    fn decode_batch(&self, batch: Vec<RawMessage>, schemas: &BatchSchemas) -> Vec<Change> {
        let mut changes = Vec::with_capacity(batch.len());
        for raw in batch {
            match self.to_change(&raw, schemas) {
                Ok(c) => changes.push(c),
                Err(reason) => {
                    let reason = format!(
                        "bad record at topic={} partition={} offset={}: {reason}",
                        raw.coords.topic, raw.coords.partition, raw.coords.offset
                    );
                    if self.config.errors.tolerance == ErrorTolerance::All {
                        tracing::warn!("{reason}; set aside (errors.tolerance=all)");
                        self.reporter.do_send(Report::BadRecord {
                            raw: Box::new(raw),
                            reason,
                        });
                    } else {
                        self.halt.do_send(Halt(HaltReason {
                            code: "BAD_RECORD".into(),
                            message: reason,
                            coords: Some(raw.coords.clone()),
                            record_id: None,
                            fields: vec![],
                            remedy: "fix the producer, or set errors.tolerance=all with \
                                     errors.deadletterqueue.topic.name to set bad records aside, \
                                     then restart the task"
                                .into(),
                        }));
                    }
                }
            }
        }
        changes
    }

    /// The registry stayed unusable: stop the task at the first record of the batch,
    /// which is not acknowledged, so nothing is lost.
    fn halt_on_registry(&self, error: RegistryError, batch: &[RawMessage]) {
        self.halt.do_send(Halt(HaltReason {
            code: "SCHEMA_REGISTRY_UNAVAILABLE".into(),
            message: error.to_string(),
            coords: batch.first().map(|r| r.coords.clone()),
            record_id: None,
            fields: vec![],
            remedy: "make the Schema Registry reachable with the configured credentials, \
                     then restart the task; it resumes at this record"
                .into(),
        }));
    }
}
