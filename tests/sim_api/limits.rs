//! The daily API allocation: `Sforce-Limit-Info`, `/limits` and the 403 when it is spent.

use crate::harness::*;

#[tokio::test]
async fn sforce_limit_info_counts_one_unit_per_call_whatever_its_size() {
    let s = start().await;
    let a = s.get("sobjects").await.units();
    let recs: Vec<Value> = (0..200)
        .map(|i| typed("Lead", lead(&format!("L{i}"))))
        .collect();
    let b = s
        .collections(Method::POST, "composite/sobjects", false, recs)
        .await
        .units();
    let c = s.create("Lead", lead("one")).await.units();
    let bad = s.create("Lead", json!({})).await;
    let d = bad.units();
    assert_eq!(a.0 + 1, b.0);
    assert_eq!(b.0 + 1, c.0);
    assert_eq!(c.0 + 1, d.0, "a refused call still costs a unit");
    assert_eq!(a.1, 100_000);
    let limits = s.get("limits/").await;
    let (used, max) = limits.units();
    assert_eq!(used, d.0 + 1);
    assert_eq!(limits.body["DailyApiRequests"]["Max"], json!(max));
    assert_eq!(
        limits.body["DailyApiRequests"]["Remaining"],
        json!(max - used)
    );
    let counters = s.admin.counters().await.unwrap();
    assert_eq!(counters.api_units_used, used);
    assert_eq!(counters.of("collections.create"), 1);
    assert_eq!(counters.of("sobject.create"), 2);
}
