//! The SObject router: one connector, several target SObjects (`salesforce.object`
//! listing more than one). Each SObject has its own writer, with its own describe,
//! External ID cache and calls; the router splits each batch from the sequencer by the
//! SObject its records name (`_ObjectType`, or a CDC event's `entityName`), sends
//! each part to its writer, and hands the outcomes back in the batch's order. With
//! `salesforce.object=*` it starts a writer for each SObject when its first record
//! comes; a record that names no SObject halts (or is set aside by the writer's policy
//! like any record the org refuses).

use crate::pipeline::messages::{Change, WriteBatch, Written};
use crate::salesforce::retry::{Action, Cause};
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
use std::collections::HashMap;

/// Starts the writer of one SObject (`salesforce.object=*`).
pub type WriterFactory = Box<dyn Fn(&str) -> Recipient<WriteBatch>>;

/// The router actor.
pub struct SObjectRouter {
    /// Writers by lower-cased SObject name.
    writers: HashMap<String, Recipient<WriteBatch>>,
    /// With `salesforce.object=*`: how to start a writer for an SObject not seen yet.
    on_demand: Option<WriterFactory>,
}

impl SObjectRouter {
    /// A router over `writers` (SObject name → its writer).
    pub fn new(writers: impl IntoIterator<Item = (String, Recipient<WriteBatch>)>) -> Self {
        SObjectRouter {
            writers: writers
                .into_iter()
                .map(|(name, w)| (name.to_lowercase(), w))
                .collect(),
            on_demand: None,
        }
    }

    /// A router that starts each SObject's writer from `factory` when the first record
    /// for that SObject comes (`salesforce.object=*`).
    pub fn on_demand(factory: WriterFactory) -> Self {
        SObjectRouter {
            writers: HashMap::new(),
            on_demand: Some(factory),
        }
    }

    /// The writer of `sobject` (lower-cased), started now when it may be.
    fn writer(&mut self, sobject: &str, named: &str) -> Option<Recipient<WriteBatch>> {
        if let Some(w) = self.writers.get(sobject) {
            return Some(w.clone());
        }
        let factory = self.on_demand.as_ref().filter(|_| !sobject.is_empty())?;
        tracing::info!("first record for SObject {named}: starting its writer");
        let w = factory(named);
        self.writers.insert(sobject.to_string(), w.clone());
        Some(w)
    }
}

impl Actor for SObjectRouter {
    type Context = Context<Self>;
}

/// The SObject a change names, as written in the record.
fn sobject_of(change: &Change) -> &str {
    change.record.object_type.as_deref().unwrap_or_default()
}

impl Handler<WriteBatch> for SObjectRouter {
    type Result = ResponseFuture<Written>;

    fn handle(&mut self, msg: WriteBatch, _ctx: &mut Self::Context) -> Self::Result {
        let group = msg.group;
        let n = msg.changes.len();
        let mut parts: HashMap<String, (String, Vec<usize>, Vec<Change>)> = HashMap::new();
        for (i, change) in msg.changes.into_iter().enumerate() {
            let named = sobject_of(&change).to_string();
            let part = parts
                .entry(named.to_lowercase())
                .or_insert_with(|| (named, Vec::new(), Vec::new()));
            part.1.push(i);
            part.2.push(change);
        }
        let sends: Vec<_> = parts
            .into_iter()
            .map(|(sobject, (display, positions, changes))| {
                let writer = self.writer(&sobject, &display);
                async move {
                    let halt_all = |changes: Vec<Change>, code: &str, message: String| {
                        let outcomes = changes
                            .iter()
                            .map(|_| Action::Halt(Cause::new(code, message.clone())))
                            .collect();
                        Written { changes, outcomes }
                    };
                    let written = match writer {
                        // Kept in case the writer is gone: the changes then halt.
                        Some(w) => match w
                            .send(WriteBatch {
                                group,
                                changes: changes.clone(),
                            })
                            .await
                        {
                            Ok(written) => written,
                            Err(e) => halt_all(
                                changes,
                                "WRITER_STOPPED",
                                format!("the {sobject} writer stopped with a batch in flight: {e}"),
                            ),
                        },
                        None => halt_all(
                            changes,
                            "UNKNOWN_SOBJECT",
                            format!("no writer for SObject {sobject:?}"),
                        ),
                    };
                    (positions, written)
                }
            })
            .collect();
        Box::pin(async move {
            let mut slots: Vec<Option<(Change, Action)>> = (0..n).map(|_| None).collect();
            for (positions, written) in futures::future::join_all(sends).await {
                for ((pos, change), action) in positions
                    .into_iter()
                    .zip(written.changes)
                    .zip(written.outcomes)
                {
                    slots[pos] = Some((change, action));
                }
            }
            let (changes, outcomes) = slots.into_iter().flatten().unzip();
            Written { changes, outcomes }
        })
    }
}
