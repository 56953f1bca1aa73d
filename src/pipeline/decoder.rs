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
//!
//! A Change Data Capture event (`sink.input.format`, see [`crate::record::cdc`]) becomes
//! one change per Id it names; the extra changes of a merged event are registered with
//! the offset tracker, so its offset is committed only once every one is done. The
//! sink's own writes coming back (`changeOrigin` naming `sink.client.id`) are counted
//! and acknowledged without a write; a gap event halts or is set aside as
//! `salesforce/retry.rs` decides from `sink.cdc.gap.behavior`.

use crate::config::sync::InputFormat;
use crate::config::ConnectorConfig;
use crate::metrics::metrics;
use crate::pipeline::messages::{
    Ack, Change, Halt, HaltReason, RawMessage, RecordBatch, Register, Report, Submit,
};
use crate::pipeline::plan::WriteGroup;
use crate::record::cdc::{self, CdcEvent};
use crate::record::decode::parse_event_type;
use crate::record::registry::{BatchSchemas, RegistryError};
use crate::record::{RawRecord, RecordConverters, SinkRecord};
use crate::salesforce::retry::{
    decide_bad_record, decide_cdc_gap, Action, Cause, Policy, SCHEMA_REGISTRY_UNAVAILABLE,
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
    /// The offset tracker, for the extra changes of a merged CDC event.
    pub register: Recipient<Register>,
}

/// What became of one raw record.
enum Decoded {
    /// Changes to write: one, or one per Id of a merged CDC event.
    Changes(Vec<Change>),
    /// Dropped by the `Filter` transform with this alias.
    Filtered(String),
    /// A CDC event of the sink's own write, reflected back: nothing to write.
    Echo,
    /// A CDC gap event; the reason says which and for what.
    Gap(String),
}

/// What one decoded batch hands on.
#[derive(Default)]
struct DecodedBatch {
    changes: Vec<Change>,
    set_aside: Vec<Report>,
    filtered: Vec<crate::record::RecordCoords>,
    /// One entry per change beyond the first of a record (merged CDC events).
    shared: Vec<crate::record::RecordCoords>,
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
    register: Recipient<Register>,
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
            register: targets.register,
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
    fn to_change(&self, raw: &RawMessage, schemas: &BatchSchemas) -> Result<Decoded, String> {
        let record = self
            .converters
            .decode(Self::raw_record(raw), schemas)
            .map_err(|e| e.to_string())?;
        self.changes_for(record, raw)
    }

    /// Reads a decoded record in the configured input format: a PushTopic record is
    /// one change; a CDC event is one per Id, an echo, or a gap.
    fn changes_for(&self, mut record: SinkRecord, raw: &RawMessage) -> Result<Decoded, String> {
        let is_cdc = match self.config.sync.input_format {
            InputFormat::PushTopic => false,
            InputFormat::Auto => cdc::is_cdc(&record),
            InputFormat::Cdc => true,
        };
        if !is_cdc {
            // Decoding left `_EventType` among the fields because of a
            // ChangeEventHeader that this format reads as an ordinary field.
            if let Some(serde_json::Value::String(text)) = record.fields.remove("_EventType") {
                record.event_type = Some(parse_event_type(&text).map_err(|e| e.to_string())?);
            }
            return Ok(Decoded::Changes(vec![self.change_for(record, raw)?]));
        }
        let event = cdc::read_event(record, &self.config.sync.client_id)
            .map_err(|e| format!("CDC event: {e}"))?;
        match event {
            CdcEvent::Changes(records) => records
                .into_iter()
                .map(|r| self.change_for(r, raw))
                .collect::<Result<Vec<_>, _>>()
                .map(Decoded::Changes),
            CdcEvent::Echo { origin } => {
                tracing::trace!(
                    connector = %self.config.name,
                    "skipping {} (changeOrigin {origin}): the sink's own write",
                    raw.coords
                );
                Ok(Decoded::Echo)
            }
            CdcEvent::Gap {
                change_type,
                entity,
                record_ids,
            } => Ok(Decoded::Gap(format!(
                "CDC gap at topic={} partition={} offset={}: a {change_type} event for {entity} \
                 {}; Salesforce did not put these changes in the stream, so the target org \
                 does not have them",
                raw.coords.topic,
                raw.coords.partition,
                raw.coords.offset,
                if record_ids.is_empty() {
                    "(no record Ids: any row may be affected)".to_string()
                } else {
                    format!("rows {}", record_ids.join(","))
                }
            ))),
        }
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
            Transformed::Record(record) => self.changes_for(record, raw),
        }
    }

    /// Decides the operation of a decoded record.
    fn change_for(&self, record: SinkRecord, raw: &RawMessage) -> Result<Change, String> {
        let listed = &self.config.salesforce_objects;
        if listed.len() > 1 {
            let named = record.object_type.as_deref().unwrap_or_default();
            if !listed.iter().any(|o| o.eq_ignore_ascii_case(named)) {
                return Err(format!(
                    "the record is for SObject {named:?} (_ObjectType, or entityName for CDC), \
                     which salesforce.object ({}) does not list",
                    listed.join(",")
                ));
            }
        }
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
            epoch: raw.epoch,
            raw_value: if self.keep_value {
                raw.value.clone()
            } else {
                None
            },
        })
    }

    /// Carries out what `salesforce/retry.rs` decided about a record that will not be
    /// written (a bad record, a CDC gap): set aside as `setting` allows (logged at warn
    /// when `loud`), or halt the task. `true` when the batch must stop here: what follows stays unacknowledged
    /// and is read again after a restart, so nothing is written past the failed record.
    fn set_aside_or_halt(
        &self,
        action: Action,
        raw: RawMessage,
        out: &mut DecodedBatch,
        setting: &str,
        loud: bool,
    ) -> bool {
        match action {
            Action::Reject(cause) => {
                if loud {
                    tracing::warn!("{}; set aside ({setting})", cause.message);
                } else {
                    tracing::debug!("{}; set aside ({setting})", cause.message);
                }
                out.set_aside.push(Report::BadRecord {
                    raw: Box::new(raw),
                    reason: cause.message,
                });
                false
            }
            Action::Halt(cause) => {
                self.halt.do_send(Halt(HaltReason {
                    cause,
                    coords: Some(raw.coords),
                    record_id: None,
                }));
                true
            }
            other => {
                tracing::error!("unexpected decision on an unwritable record: {other:?}");
                false
            }
        }
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
            } else {
                self.transformed_change(&raw, schemas)
            };
            match decoded {
                Ok(Decoded::Changes(changes)) => {
                    for _ in 1..changes.len() {
                        out.shared.push(raw.coords.clone());
                    }
                    out.changes.extend(changes);
                }
                Ok(Decoded::Echo) => {
                    metrics()
                        .cdc_echoes_skipped
                        .with_label_values(&[&self.config.name])
                        .inc();
                    out.filtered.push(raw.coords);
                }
                Ok(Decoded::Gap(reason)) => {
                    let action = decide_cdc_gap(&self.policy, reason);
                    if self.set_aside_or_halt(
                        action,
                        raw,
                        &mut out,
                        "sink.cdc.gap.behavior=skip",
                        true,
                    ) {
                        break;
                    }
                }
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
                    // Bad records are in the error topic and the dead-letter queue, and
                    // in the log with errors.log.enable; a gap (lost changes) is rare.
                    let action = decide_bad_record(&self.policy, reason);
                    if self.set_aside_or_halt(action, raw, &mut out, "errors.tolerance=all", false)
                    {
                        break;
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
        let (sequencer, reporter, tracker, register) = (
            self.sequencer.clone(),
            self.reporter.clone(),
            self.tracker.clone(),
            self.register.clone(),
        );
        async move {
            // Before any of the changes can be acknowledged.
            if !batch.shared.is_empty() {
                let _ = register.send(Register(batch.shared)).await;
            }
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
