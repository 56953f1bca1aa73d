//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A batch whose writer schemas (Avro, JSON Schema) are not all cached waits
//! for the Schema Registry before it is decoded, holding back later batches so order is
//! kept; a registry that stays down past the retry budget fails the task (the records
//! are not bad). A record that cannot be used (not JSON, a type that contradicts its
//! schema, an unknown `_EventType`, a tombstone, no `Id` where the operation needs one)
//! is a bad record: `salesforce/retry.rs` decides, from `errors.tolerance`, whether it
//! halts the task (naming the record) or goes to the dead-letter queue while processing
//! goes on.
//!
//! When `transforms` is configured, each record goes through the transform chain
//! between decoding and the sink's own rules (see [`crate::transform`]); a transform
//! failure is a bad record naming the transform, and a record a `Filter` drops is
//! acknowledged to the offset tracker at once, like a written one. Without transforms
//! nothing of this runs.

use crate::config::ConnectorConfig;
use crate::metrics::metrics;
use crate::pipeline::messages::{
    Ack, Change, Halt, HaltReason, RawMessage, RecordBatch, Report, Submit,
};
use crate::pipeline::plan::WriteGroup;
use crate::record::registry::{BatchSchemas, RegistryError};
use crate::record::{RawRecord, RecordConverters, SinkRecord};
use crate::salesforce::retry::{
    decide_bad_record, Action, Cause, Policy, SCHEMA_REGISTRY_UNAVAILABLE,
};
use crate::transform::record::Transformed;
use actix::{Actor, ActorFutureExt, AtomicResponse, Context, Handler, Recipient, WrapFuture};
use std::sync::Arc;

/// Record batches the decoder takes on before the reader's `send` waits: enough to
/// overlap reading with decoding, few enough that the reader does not run far ahead.
const DECODER_MAILBOX: usize = 4;

/// Where decoded changes, set-aside records and halts go.
pub struct DecoderTargets {
    /// The sequencer.
    pub sequencer: Recipient<Submit>,
    /// The reporter (dead letters).
    pub reporter: Recipient<Report>,
    /// The halt actor.
    pub halt: Recipient<Halt>,
    /// The offset tracker, for records a `Filter` transform drops.
    pub tracker: Recipient<Ack>,
}

/// What became of one raw record.
enum Decoded {
    /// A change to write.
    Change(Box<Change>),
    /// Dropped by the `Filter` transform with this alias.
    Filtered(String),
}

/// What one decoded batch hands on.
#[derive(Default)]
struct DecodedBatch {
    changes: Vec<Change>,
    set_aside: Vec<Report>,
    filtered: Vec<crate::record::RecordCoords>,
}

/// The decoder actor.
pub struct Decoder {
    config: Arc<ConnectorConfig>,
    converters: Arc<RecordConverters>,
    keep_value: bool,
    policy: Policy,
    sequencer: Recipient<Submit>,
    reporter: Recipient<Report>,
    halt: Recipient<Halt>,
    tracker: Recipient<Ack>,
}

impl Decoder {
    /// A decoder for `config`'s records; `policy` says what a bad record does.
    pub fn new(config: Arc<ConnectorConfig>, policy: Policy, targets: DecoderTargets) -> Self {
        let converters = Arc::new(RecordConverters::from_config(&config));
        let keep_value = config.errors.dlq_topic.is_some();
        Self {
            config,
            converters,
            keep_value,
            policy,
            sequencer: targets.sequencer,
            reporter: targets.reporter,
            halt: targets.halt,
            tracker: targets.tracker,
        }
    }

    fn raw_record<'a>(raw: &'a RawMessage) -> RawRecord<'a> {
        RawRecord {
            coords: raw.coords.clone(),
            timestamp: raw.timestamp,
            key: raw.key.as_deref(),
            value: raw.value.as_deref(),
        }
    }

    /// Decodes one record and decides its operation.
    fn to_change(&self, raw: &RawMessage, schemas: &BatchSchemas) -> Result<Change, String> {
        let record = self
            .converters
            .decode(Self::raw_record(raw), schemas)
            .map_err(|e| e.to_string())?;
        self.change_for(record, raw)
    }

    /// Runs the transform chain on one record, then the sink's rules on the result.
    fn transformed_change(
        &self,
        raw: &RawMessage,
        schemas: &BatchSchemas,
    ) -> Result<Decoded, String> {
        let transformed = self
            .config
            .transforms
            .run(
                Self::raw_record(raw),
                raw.header_keys.clone(),
                self.converters.options(),
                schemas,
            )
            .map_err(|e| e.to_string())?;
        match transformed {
            Transformed::Filtered { alias } => Ok(Decoded::Filtered(alias)),
            Transformed::Record(record) => self
                .change_for(record, raw)
                .map(|c| Decoded::Change(Box::new(c))),
        }
    }

    /// Decides the operation of a decoded record.
    fn change_for(&self, record: SinkRecord, raw: &RawMessage) -> Result<Change, String> {
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

    /// Decodes a batch whose schemas are at hand; bad records are set aside or halt
    /// the task, as the policy says.
    fn decode_batch(&self, batch: Vec<RawMessage>, schemas: &BatchSchemas) -> DecodedBatch {
        let mut out = DecodedBatch {
            changes: Vec::with_capacity(batch.len()),
            ..DecodedBatch::default()
        };
        for raw in batch {
            let decoded = if self.config.transforms.is_empty() {
                self.to_change(&raw, schemas)
                    .map(|c| Decoded::Change(Box::new(c)))
            } else {
                self.transformed_change(&raw, schemas)
            };
            match decoded {
                Ok(Decoded::Change(c)) => out.changes.push(*c),
                Ok(Decoded::Filtered(alias)) => {
                    metrics()
                        .records_filtered
                        .with_label_values(&[&self.config.name, &alias])
                        .inc();
                    out.filtered.push(raw.coords);
                }
                Err(reason) => {
                    let reason = format!(
                        "bad record at topic={} partition={} offset={}: {reason}",
                        raw.coords.topic, raw.coords.partition, raw.coords.offset
                    );
                    match decide_bad_record(&self.policy, reason) {
                        Action::Reject(cause) => {
                            tracing::debug!("{}; set aside (errors.tolerance=all)", cause.message);
                            out.set_aside.push(Report::BadRecord {
                                raw: Box::new(raw),
                                reason: cause.message,
                            });
                        }
                        Action::Halt(cause) => self.halt.do_send(Halt(HaltReason {
                            cause,
                            coords: Some(raw.coords.clone()),
                            record_id: None,
                        })),
                        other => tracing::error!("unexpected decision on a bad record: {other:?}"),
                    }
                }
            }
        }
        out
    }

    /// The registry stayed unusable: stop the task at the first record of the batch,
    /// which is not acknowledged, so nothing is lost.
    fn halt_on_registry(&self, error: RegistryError, batch: &[RawMessage]) {
        self.halt.do_send(Halt(HaltReason {
            cause: Cause::new(SCHEMA_REGISTRY_UNAVAILABLE, error.to_string()),
            coords: batch.first().map(|r| r.coords.clone()),
            record_id: None,
        }));
    }

    /// Hands a decoded batch on: filtered offsets to the tracker, set-aside records to
    /// the reporter, changes to the sequencer; the batch counts as taken once they
    /// have them.
    fn hand_on(&self, batch: DecodedBatch) -> impl std::future::Future<Output = ()> {
        let (sequencer, reporter, tracker) = (
            self.sequencer.clone(),
            self.reporter.clone(),
            self.tracker.clone(),
        );
        async move {
            if !batch.filtered.is_empty() {
                let _ = tracker.send(Ack(batch.filtered)).await;
            }
            for report in batch.set_aside {
                let _ = reporter.send(report).await;
            }
            if !batch.changes.is_empty() {
                let _ = sequencer.send(Submit(batch.changes)).await;
            }
        }
    }
}

impl Actor for Decoder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(DECODER_MAILBOX);
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
                let decoded = self.decode_batch(msg.0, &schemas);
                AtomicResponse::new(Box::pin(self.hand_on(decoded).into_actor(self)))
            }
            Err(wanted) => {
                let converters = self.converters.clone();
                let fetch = async move { converters.fetch_schemas(wanted).await };
                AtomicResponse::new(Box::pin(fetch.into_actor(self).then(
                    move |fetched, act, _ctx| {
                        let decoded = match fetched {
                            Ok(schemas) => act.decode_batch(msg.0, &schemas),
                            Err(e) => {
                                act.halt_on_registry(e, &msg.0);
                                DecodedBatch::default()
                            }
                        };
                        act.hand_on(decoded).into_actor(act)
                    },
                )))
            }
        }
    }
}
