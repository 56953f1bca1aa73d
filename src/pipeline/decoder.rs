//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A record that cannot be used (not JSON, a type that contradicts its schema,
//! an unknown `_EventType`, a tombstone, no `Id` where the operation needs one) is a
//! bad record: with `errors.tolerance=none` it halts the task, naming the record; with
//! `all` it goes to the dead-letter queue and processing goes on.
//!
//! When `transforms` is configured, each record goes through the transform chain
//! between decoding and the sink's own rules (see [`crate::transform`]); a transform
//! failure is a bad record naming the transform, and a record a `Filter` drops is
//! acknowledged to the offset tracker at once, like a written one. Without transforms
//! nothing of this runs.

use crate::config::connector::ErrorTolerance;
use crate::config::ConnectorConfig;
use crate::metrics::metrics;
use crate::pipeline::halt::{Halt, HaltActor, HaltReason};
use crate::pipeline::messages::{Ack, Change, RawMessage, RecordBatch, Submit};
use crate::pipeline::offset_tracker::OffsetTracker;
use crate::pipeline::plan::WriteGroup;
use crate::pipeline::reporter::{Report, Reporter};
use crate::pipeline::sequencer::Sequencer;
use crate::record::{decode, DecodeOptions, RawRecord, SinkRecord};
use crate::transform::record::Transformed;
use actix::{Actor, Addr, Context, Handler, ResponseFuture};
use std::sync::Arc;

/// The decoder actor.
pub struct Decoder {
    config: Arc<ConnectorConfig>,
    options: DecodeOptions,
    keep_value: bool,
    sequencer: Addr<Sequencer>,
    reporter: Addr<Reporter>,
    halt: Addr<HaltActor>,
    tracker: Addr<OffsetTracker>,
}

/// What became of one raw record.
enum Decoded {
    /// A change to write.
    Change(Box<Change>),
    /// Dropped by the `Filter` transform with this alias.
    Filtered(String),
}

impl Decoder {
    /// A decoder for `config`'s records.
    pub fn new(
        config: Arc<ConnectorConfig>,
        sequencer: Addr<Sequencer>,
        reporter: Addr<Reporter>,
        halt: Addr<HaltActor>,
        tracker: Addr<OffsetTracker>,
    ) -> Self {
        let options = DecodeOptions::from_config(&config);
        let keep_value = config.errors.dlq_topic.is_some();
        Self {
            config,
            options,
            keep_value,
            sequencer,
            reporter,
            halt,
            tracker,
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
        ctx.set_mailbox_capacity(4);
    }
}

impl Handler<RecordBatch> for Decoder {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: RecordBatch, _ctx: &mut Self::Context) -> Self::Result {
        let mut changes = Vec::with_capacity(msg.0.len());
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
        if !filtered.is_empty() {
            self.tracker.do_send(Ack(filtered));
        }
        let sequencer = self.sequencer.clone();
        Box::pin(async move {
            if !changes.is_empty() {
                let _ = sequencer.send(Submit(changes)).await;
            }
        })
    }
}
