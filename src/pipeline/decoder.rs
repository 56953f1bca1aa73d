//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A record that cannot be used (not JSON, a type that contradicts its schema,
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
use crate::record::{decode, DecodeOptions, RawRecord};
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
}

impl Decoder {
    /// A decoder for `config`'s records.
    pub fn new(
        config: Arc<ConnectorConfig>,
        sequencer: Addr<Sequencer>,
        reporter: Addr<Reporter>,
        halt: Addr<HaltActor>,
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
        for raw in msg.0 {
            match self.to_change(&raw) {
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
        let sequencer = self.sequencer.clone();
        Box::pin(async move {
            if !changes.is_empty() {
                let _ = sequencer.send(Submit(changes)).await;
            }
        })
    }
}
