//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A record that cannot be used (not JSON, a type that contradicts its schema,
//! an unknown `_EventType`, a tombstone, no `Id` where the operation needs one) is a
//! bad record: `salesforce/retry.rs` decides, from `errors.tolerance`, whether it halts
//! the task (naming the record) or goes to the dead-letter queue while processing goes
//! on.
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
use crate::record::{decode, DecodeOptions, RawRecord, SinkRecord};
use crate::salesforce::retry::{decide_bad_record, Action, Policy};
use crate::transform::record::Transformed;
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
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

/// The decoder actor.
pub struct Decoder {
    config: Arc<ConnectorConfig>,
    options: DecodeOptions,
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
        let options = DecodeOptions::from_config(&config);
        let keep_value = config.errors.dlq_topic.is_some();
        Self {
            config,
            options,
            keep_value,
            policy,
            sequencer: targets.sequencer,
            reporter: targets.reporter,
            halt: targets.halt,
            tracker: targets.tracker,
        }
    }

    /// Decodes one record and decides its operation.
    fn to_change(&self, raw: &RawMessage) -> Result<Change, String> {
        let record = decode(
            RawRecord {
                coords: raw.coords.clone(),
                timestamp: raw.timestamp,
                key: raw.key.as_deref(),
                value: raw.value.as_deref(),
            },
            &self.options,
        )
        .map_err(|e| e.to_string())?;
        self.change_for(record, raw)
    }

    /// Runs the transform chain on one record, then the sink's rules on the result.
    fn transformed_change(&self, raw: &RawMessage) -> Result<Decoded, String> {
        let input = RawRecord {
            coords: raw.coords.clone(),
            timestamp: raw.timestamp,
            key: raw.key.as_deref(),
            value: raw.value.as_deref(),
        };
        let transformed = self
            .config
            .transforms
            .run(input, raw.header_keys.clone(), &self.options)
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
}

impl Actor for Decoder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(DECODER_MAILBOX);
    }
}

impl Handler<RecordBatch> for Decoder {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: RecordBatch, _ctx: &mut Self::Context) -> Self::Result {
        let mut changes = Vec::with_capacity(msg.0.len());
        let mut set_aside = Vec::new();
        let mut filtered = Vec::new();
        for raw in msg.0 {
            let decoded = if self.config.transforms.is_empty() {
                self.to_change(&raw).map(|c| Decoded::Change(Box::new(c)))
            } else {
                self.transformed_change(&raw)
            };
            match decoded {
                Ok(Decoded::Change(c)) => changes.push(*c),
                Ok(Decoded::Filtered(alias)) => {
                    metrics()
                        .records_filtered
                        .with_label_values(&[&self.config.name, &alias])
                        .inc();
                    filtered.push(raw.coords);
                }
                Err(reason) => {
                    let reason = format!(
                        "bad record at topic={} partition={} offset={}: {reason}",
                        raw.coords.topic, raw.coords.partition, raw.coords.offset
                    );
                    match decide_bad_record(&self.policy, reason) {
                        Action::Reject(cause) => {
                            tracing::warn!("{}; set aside (errors.tolerance=all)", cause.message);
                            set_aside.push(Report::BadRecord {
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
        let sequencer = self.sequencer.clone();
        let reporter = self.reporter.clone();
        let tracker = self.tracker.clone();
        Box::pin(async move {
            if !filtered.is_empty() {
                let _ = tracker.send(Ack(filtered)).await;
            }
            for report in set_aside {
                let _ = reporter.send(report).await;
            }
            if !changes.is_empty() {
                let _ = sequencer.send(Submit(changes)).await;
            }
        })
    }
}
