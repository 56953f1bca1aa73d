//! The `.properties` reader, then the connector and worker settings read from its map,
//! as `sobject-sink standalone worker.properties connector.properties` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::config::properties::{parse, parse_map};
use sobject_sink::config::{ConnectorConfig, WorkerConfig};
use sobject_sink::record::DecodeOptions;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pairs = parse(&text);
    let map = match parse_map(&text) {
        Ok(map) => map,
        Err(e) => {
            assert!(pairs.is_err(), "the map and pair forms disagree");
            assert!(e.line >= 1 && !e.message.is_empty());
            return;
        }
    };
    assert!(pairs.is_ok(), "the map form parsed, so the pair form must");
    match ConnectorConfig::from_map(&map) {
        Ok(config) => {
            let _ = DecodeOptions::from_config(&config);
            let _ = config.consumer_group();
            let _ = config.external_id_field();
            let _ = ConnectorConfig::redacted_map(&map);
        }
        Err(errors) => assert!(errors.iter().all(|e| !e.to_string().is_empty())),
    }
    match WorkerConfig::from_map(&map) {
        Ok(worker) => {
            let _ = worker.kafka_client_config();
            let _ = worker.consumer_overrides();
            let _ = worker.producer_overrides();
        }
        Err(errors) => assert!(errors.iter().all(|e| !e.to_string().is_empty())),
    }
});
