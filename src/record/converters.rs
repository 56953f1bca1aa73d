//! A task's key and value converters: the decode options plus, for the Confluent
//! converters, their Schema Registry clients.
//!
//! Decoding is synchronous; fetching writer schemas is not. So a batch is decoded in
//! two steps: [`RecordConverters::cached_schemas`] says whether every schema id the
//! batch names is already cached (always, for JsonConverter); if not,
//! [`RecordConverters::fetch_schemas`] asks the registry (awaiting, retrying while it
//! is down) and the batch is decoded after.

use std::collections::BTreeSet;

use super::decode::{decode_with, DecodeOptions, RawRecord};
use super::error::{DecodeError, Part};
use super::registry::{BatchSchemas, Lookup, RegistryError, SchemaRegistry};
use super::{wire, SinkRecord};
use crate::config::converter::ConverterConfig;
use crate::config::ConnectorConfig;

/// The schema ids a batch needs, some of them not cached yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemasToFetch(BTreeSet<(Part, u32)>);

/// How one task reads record keys and values.
#[derive(Debug)]
pub struct RecordConverters {
    options: DecodeOptions,
    key_registry: Option<SchemaRegistry>,
    value_registry: Option<SchemaRegistry>,
}

fn registry_for(
    converter: &ConverterConfig,
    prefix: &'static str,
    config: &ConnectorConfig,
) -> Option<SchemaRegistry> {
    let registry = converter.registry.as_ref()?;
    converter.class.uses_registry().then(|| {
        SchemaRegistry::new(
            registry,
            converter.class,
            prefix,
            config
                .errors
                .retry_timeout
                .unwrap_or(config.request_max_retries_time),
            config.errors.retry_delay_max,
        )
    })
}

impl RecordConverters {
    /// The decode options (converter classes and their JSON settings).
    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// The converters a connector configuration asks for.
    pub fn from_config(config: &ConnectorConfig) -> Self {
        RecordConverters {
            options: DecodeOptions::from_config(config),
            key_registry: registry_for(&config.key_converter, "key.converter", config),
            value_registry: registry_for(&config.value_converter, "value.converter", config),
        }
    }

    fn registry(&self, part: Part) -> Option<&SchemaRegistry> {
        match part {
            Part::Key => self.key_registry.as_ref(),
            Part::Value => self.value_registry.as_ref(),
        }
    }

    /// The writer schemas of `records` (key and value bytes) when all are cached;
    /// otherwise what to fetch. Records without a wire-format header need nothing:
    /// they fail decoding on their own.
    pub fn cached_schemas<'a>(
        &self,
        records: impl Iterator<Item = (Option<&'a [u8]>, Option<&'a [u8]>)>,
    ) -> Result<BatchSchemas, SchemasToFetch> {
        if self.key_registry.is_none() && self.value_registry.is_none() {
            return Ok(BatchSchemas::default());
        }
        let mut ids = BTreeSet::new();
        for (key, value) in records {
            for (part, bytes) in [(Part::Key, key), (Part::Value, value)] {
                if self.registry(part).is_some() {
                    if let Some(id) = bytes.and_then(wire::schema_id) {
                        ids.insert((part, id));
                    }
                }
            }
        }
        let mut batch = BatchSchemas::default();
        for &(part, id) in &ids {
            match self.registry(part).and_then(|r| r.cached(id)) {
                Some(schema) => batch.insert(part, id, Lookup::Found(schema)),
                None => return Err(SchemasToFetch(ids)),
            }
        }
        Ok(batch)
    }

    /// Fetches what [`Self::cached_schemas`] found missing. An error means the
    /// registry stayed unusable for the whole retry budget (or refused us): the task
    /// must stop, the records are not bad.
    pub async fn fetch_schemas(
        &self,
        wanted: SchemasToFetch,
    ) -> Result<BatchSchemas, RegistryError> {
        let mut batch = BatchSchemas::default();
        for (part, id) in wanted.0 {
            if let Some(registry) = self.registry(part) {
                batch.insert(part, id, registry.fetch(id).await?);
            }
        }
        Ok(batch)
    }

    /// Decodes one record with the schemas of its batch.
    pub fn decode(
        &self,
        raw: RawRecord<'_>,
        schemas: &BatchSchemas,
    ) -> Result<SinkRecord, DecodeError> {
        decode_with(raw, &self.options, schemas)
    }
}
