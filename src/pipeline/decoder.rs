//! The decoder: raw Kafka records in, changes with their operation out.
//!
//! Runs on an arbiter of its own so that parsing (simd-json) overlaps with reading and
//! writing. A record that cannot be used (not JSON, a type that contradicts its schema,
//! an unknown `_EventType`, a tombstone, no `Id` where the operation needs one) is a
//! bad record: `salesforce/retry.rs` decides, from `errors.tolerance`, whether it halts
//! the task (naming the record) or goes to the dead-letter queue while processing goes
//! on.

use crate::config::ConnectorConfig;
use crate::pipeline::messages::{
    Change, Halt, HaltReason, RawMessage, RecordBatch, Report, Submit,
};
use crate::pipeline::plan::WriteGroup;
use crate::record::{decode, DecodeOptions, RawRecord};
use crate::salesforce::retry::{decide_bad_record, Action, Policy};
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
        ctx.set_mailbox_capacity(DECODER_MAILBOX);
    }
}

impl Handler<RecordBatch> for Decoder {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: RecordBatch, _ctx: &mut Self::Context) -> Self::Result {
        let mut changes = Vec::with_capacity(msg.0.len());
        let mut set_aside = Vec::new();
        for raw in msg.0 {
            match self.to_change(&raw) {
                Ok(c) => changes.push(c),
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
        Box::pin(async move {
            for report in set_aside {
                let _ = reporter.send(report).await;
            }
            if !changes.is_empty() {
                let _ = sequencer.send(Submit(changes)).await;
            }
        })
    }
}
