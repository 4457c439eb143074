//! Metering for `make bench` (scripts/cost.py): an interceptor on the real DynamoDB client that
//! records, for every call the adapters send, what DynamoDB bills it by — the operation, each
//! item read or written (table, index, size in DynamoDB's accounting, attribute names, whether
//! the read is consistent and the write transactional) — and the `ConsumedCapacity` the service
//! returns. It asks for that capacity itself (`ReturnConsumedCapacity: TOTAL`, added to the
//! request body before signing), so no adapter changes.
//!
//! On only when `PORTCULLIS_METER_FILE` names a file (the bench sets it; a deployment never does):
//! one JSON line per call is appended there. Nothing secret is written: sizes and attribute
//! names, never a value. It pairs a response with the request before it, which holds because a
//! function serves one request at a time and its adapters make one call at a time.
use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::{json, Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The variable that turns metering on: the file the lines are appended to.
pub const METER_FILE: &str = "PORTCULLIS_METER_FILE";

/// The operations that bill capacity and accept `ReturnConsumedCapacity`.
const BILLED: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

/// Records every billed DynamoDB call to a file, one JSON line each.
#[derive(Debug)]
pub struct Meter {
    file: Mutex<File>,
    /// The request in flight: its operation and what it writes.
    pending: Mutex<Option<(String, Value)>>,
}

impl Meter {
    /// Appends to `path` (created if missing).
    pub fn open(path: &str) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(file),
            pending: Mutex::new(None),
        })
    }

    /// From `PORTCULLIS_METER_FILE`, when it is set.
    pub fn from_env() -> Option<Self> {
        let path = std::env::var(METER_FILE).ok().filter(|p| !p.is_empty())?;
        match Self::open(&path) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, path, "cannot open the meter file; metering is off");
                None
            }
        }
    }
}

/// The operation name of a DynamoDB request (`X-Amz-Target: DynamoDB_20120810.GetItem`).
fn operation(target: Option<&str>) -> Option<&str> {
    target?.strip_prefix("DynamoDB_20120810.")
}

/// The request body with `ReturnConsumedCapacity` set (kept if the caller set it).
pub fn with_consumed_capacity(body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Map<String, Value> = serde_json::from_slice(body).ok()?;
    v.entry("ReturnConsumedCapacity")
        .or_insert_with(|| Value::String("TOTAL".into()));
    serde_json::to_vec(&v).ok()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "PortcullisMeter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request_mut();
        let Some(op) = operation(req.headers().get("x-amz-target")).map(str::to_string) else {
            return Ok(());
        };
        if !BILLED.contains(&op.as_str()) {
            return Ok(());
        }
        let Some(body) = req.body().bytes().map(<[u8]>::to_vec) else {
            return Ok(());
        };
        if let Some(new) = with_consumed_capacity(&body) {
            let len = new.len().to_string();
            *req.body_mut() = new.into();
            req.headers_mut().insert("content-length", len);
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Ok(mut p) = self.pending.lock() {
            *p = Some((op, request));
        }
        Ok(())
    }

    /// After deserialization the response body has been read into memory, so it can be seen.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((op, request)) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return Ok(());
        };
        let res = context.response();
        let response: Value = res
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let line = json!({
            "op": op,
            "status": res.status().as_u16(),
            "items": billed_items(&op, &request, &response),
            "consumed": response.get("ConsumedCapacity").cloned().unwrap_or(Value::Null),
        });
        if let Ok(mut f) = self.file.lock() {
            let mut bytes = line.to_string().into_bytes();
            bytes.push(b'\n');
            // Metering must never fail a request: a write error only loses the line.
            if let Err(e) = f.write_all(&bytes) {
                tracing::warn!(error = %e, "meter line lost");
            }
        }
        Ok(())
    }
}

/// DynamoDB's size of an attribute value: strings and binaries by their bytes, numbers by their
/// digits, one byte for a boolean or null, 3 bytes plus contents for lists and maps.
pub fn value_size(v: &Value) -> usize {
    let Some((ty, inner)) = v.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    let text = |x: &Value| x.as_str().map_or(0, str::len);
    let number = |x: &Value| {
        let digits = x
            .as_str()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        digits.div_ceil(2) + 1
    };
    let binary = |x: &Value| text(x) * 3 / 4;
    let each = |f: &dyn Fn(&Value) -> usize| {
        inner
            .as_array()
            .map_or(0, |a| a.iter().map(f).sum::<usize>())
    };
    match ty.as_str() {
        "S" => text(inner),
        "N" => number(inner),
        "B" => binary(inner),
        "BOOL" | "NULL" => 1,
        "SS" => each(&text),
        "NS" => each(&number),
        "BS" => each(&binary),
        "L" => 3 + each(&|e| 1 + value_size(e)),
        "M" => 3 + inner.as_object().map_or(0, |m| item_size_of(m) + m.len()),
        _ => 0,
    }
}

fn item_size_of(m: &Map<String, Value>) -> usize {
    m.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// An item's size: its attribute names and values.
pub fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, item_size_of)
}

fn attrs(item: &Value) -> Value {
    item.as_object().map_or(Value::Null, |m| {
        Value::Array(m.keys().cloned().map(Value::String).collect())
    })
}

/// The attributes an `UpdateExpression` names (placeholders resolved), e.g. `SET #a = :a,
/// b = :b REMOVE c` gives `[a, b, c]`.
fn touched(req: &Value) -> Value {
    let expr = req["UpdateExpression"].as_str().unwrap_or("");
    let names = &req["ExpressionAttributeNames"];
    let mut out: Vec<Value> = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == ':' {
            word.push(c);
            continue;
        }
        let w = std::mem::take(&mut word);
        let keyword = [
            "SET",
            "REMOVE",
            "ADD",
            "DELETE",
            "if_not_exists",
            "list_append",
        ]
        .contains(&w.as_str());
        if w.is_empty() || w.starts_with(':') || keyword || c == '(' {
            continue;
        }
        let name = match w.strip_prefix('#') {
            Some(_) => names[&w].as_str().unwrap_or(&w).to_string(),
            None => w,
        };
        if !out.iter().any(|v| v.as_str() == Some(name.as_str())) {
            out.push(Value::String(name));
        }
    }
    Value::Array(out)
}

fn billed(table: &Value, kind: &str, transactional: bool, size: usize, names: Value) -> Value {
    json!({ "table": table, "kind": kind, "transactional": transactional, "bytes": size, "attrs": names })
}

/// What one call reads and writes, item by item, as DynamoDB bills it. A write whose whole item
/// the call does not show (an update or delete that returns nothing) has `attrs: null`.
pub fn billed_items(op: &str, req: &Value, res: &Value) -> Vec<Value> {
    let table = &req["TableName"];
    let consistent = req["ConsistentRead"].as_bool().unwrap_or(false);
    let read = |t: &Value, consistent: bool, size: usize, transactional: bool| {
        let mut v = billed(t, "read", transactional, size, Value::Null);
        v["consistent"] = Value::Bool(consistent);
        v
    };
    // A write's size is the larger of the item before and after it.
    let old = &res["Attributes"];
    let changed = |new: &Value| {
        let names = if new.is_object() {
            attrs(new)
        } else {
            attrs(old)
        };
        (item_size(new).max(item_size(old)).max(1), names)
    };
    match op {
        "GetItem" => vec![read(table, consistent, item_size(&res["Item"]), false)],
        "Query" | "Scan" => {
            let size = res["Items"]
                .as_array()
                .map_or(0, |items| items.iter().map(item_size).sum());
            let mut r = read(table, consistent, size, false);
            r["index"] = req["IndexName"].clone();
            vec![r]
        }
        "PutItem" => {
            let (size, names) = changed(&req["Item"]);
            vec![billed(table, "write", false, size, names)]
        }
        "UpdateItem" => {
            let (size, names) = changed(&res["Attributes"]);
            let mut w = billed(table, "write", false, size, names);
            // What the update changes: an index is written only when an update changes one of
            // its key or projected attributes (DynamoDB's rule), which the cost table applies.
            w["touched"] = touched(req);
            vec![w]
        }
        "DeleteItem" => {
            let (size, names) = changed(&Value::Null);
            vec![billed(table, "write", false, size, names)]
        }
        "BatchGetItem" => res["Responses"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, items)| {
                let consistent = req["RequestItems"][t]["ConsistentRead"]
                    .as_bool()
                    .unwrap_or(false);
                let t = Value::String(t.clone());
                items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |i| read(&t, consistent, item_size(i), false))
            })
            .chain(
                // Keys asked for and not found still bill one read unit (or half) each.
                req["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .flat_map(|(t, r)| {
                        let asked = r["Keys"].as_array().map_or(0, Vec::len);
                        let found = res["Responses"][t].as_array().map_or(0, Vec::len);
                        let consistent = r["ConsistentRead"].as_bool().unwrap_or(false);
                        let t = Value::String(t.clone());
                        (found..asked).map(move |_| read(&t, consistent, 0, false))
                    }),
            )
            .collect(),
        "BatchWriteItem" => req["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(t, writes)| {
                let t = Value::String(t.clone());
                writes.as_array().into_iter().flatten().map(move |w| {
                    match &w["PutRequest"]["Item"] {
                        Value::Null => billed(&t, "write", false, 1, Value::Null),
                        item => billed(&t, "write", false, item_size(item), attrs(item)),
                    }
                })
            })
            .collect(),
        "TransactWriteItems" => req["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let (kind, part) = i.as_object()?.iter().next()?;
                Some(match kind.as_str() {
                    "Put" => billed(
                        &part["TableName"],
                        "write",
                        true,
                        item_size(&part["Item"]),
                        attrs(&part["Item"]),
                    ),
                    "ConditionCheck" => {
                        billed(&part["TableName"], "condition", true, 1, Value::Null)
                    }
                    _ => billed(&part["TableName"], "write", true, 1, Value::Null),
                })
            })
            .collect(),
        "TransactGetItems" => req["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(
                res["Responses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .chain(std::iter::repeat(Value::Null)),
            )
            .map(|(i, r)| read(&i["Get"]["TableName"], true, item_size(&r["Item"]), true))
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interceptor asks DynamoDB for the capacity each call consumes, without the adapters
    /// asking: the body gains `ReturnConsumedCapacity`, everything else is kept.
    #[test]
    fn an_update_names_the_attributes_it_changes() {
        let req = json!({
            "UpdateExpression": "SET #g = :g, revoked_at = if_not_exists(revoked_at, :now) REMOVE #slot",
            "ExpressionAttributeNames": {"#g": "generation", "#slot": "access_hash"}
        });
        assert_eq!(
            touched(&req),
            json!(["generation", "revoked_at", "access_hash"])
        );
    }

    #[test]
    fn the_request_asks_for_consumed_capacity_and_keeps_the_rest() {
        let body = br#"{"TableName":"t","Key":{"pk":{"S":"a"}}}"#;
        let new: Value = serde_json::from_slice(&with_consumed_capacity(body).unwrap()).unwrap();
        assert_eq!(new["ReturnConsumedCapacity"], "TOTAL");
        assert_eq!(new["Key"]["pk"]["S"], "a");
        let asked = br#"{"TableName":"t","ReturnConsumedCapacity":"INDEXES"}"#;
        let kept: Value = serde_json::from_slice(&with_consumed_capacity(asked).unwrap()).unwrap();
        assert_eq!(kept["ReturnConsumedCapacity"], "INDEXES");
        assert!(with_consumed_capacity(b"not json").is_none());
    }

    #[test]
    fn only_dynamodb_targets_are_metered() {
        assert_eq!(
            operation(Some("DynamoDB_20120810.GetItem")),
            Some("GetItem")
        );
        assert_eq!(operation(Some("secretsmanager.GetSecretValue")), None);
        assert_eq!(operation(None), None);
    }

    /// DynamoDB item size: names plus values; numbers by digits, lists and maps 3 bytes extra.
    #[test]
    fn item_sizes_follow_dynamodbs_accounting() {
        let item = json!({
            "pk": {"S": "abcd"},
            "n": {"N": "12345"},
            "ok": {"BOOL": true},
            "l": {"L": [{"S": "xy"}]},
        });
        // pk 2+4, n 1+(3+1), ok 2+1, l 1+(3+1+2)
        assert_eq!(item_size(&item), 6 + 5 + 3 + 7);
    }

    /// A transaction bills each part as transactional; a Put shows its item's attributes (for
    /// the index writes), a condition check is its own kind.
    #[test]
    fn a_transaction_bills_each_part_transactionally() {
        let req = json!({"TransactItems": [
            {"Put": {"TableName": "tokens", "Item": {"pk": {"S": "a"}, "grant_id": {"S": "g"}}}},
            {"ConditionCheck": {"TableName": "clients", "Key": {"client_id": {"S": "c"}}}},
        ]});
        let items = billed_items("TransactWriteItems", &req, &Value::Null);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["kind"], "write");
        assert_eq!(items[0]["transactional"], true);
        assert_eq!(items[0]["attrs"], json!(["grant_id", "pk"]));
        assert_eq!(items[1]["kind"], "condition");
        assert_eq!(items[1]["table"], "clients");
    }

    /// BatchGetItem: each found item by its size, each key not found still one (half) unit.
    #[test]
    fn a_batch_get_bills_found_and_missing_keys() {
        let req = json!({"RequestItems": {
            "tokens": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": true},
            "clients": {"Keys": [{"client_id": {"S": "c"}}], "ConsistentRead": true},
        }});
        let res = json!({"Responses": {"tokens": [{"pk": {"S": "a"}}], "clients": []}});
        let items = billed_items("BatchGetItem", &req, &res);
        assert_eq!(items.len(), 2);
        assert!(items
            .iter()
            .all(|i| i["kind"] == "read" && i["consistent"] == true));
        assert!(items
            .iter()
            .any(|i| i["table"] == "clients" && i["bytes"] == 0));
    }

    /// A delete that returns the old item is billed by it and shows its attributes.
    #[test]
    fn a_delete_is_billed_by_the_item_it_removed() {
        let res = json!({"Attributes": {"pk": {"S": "abc"}}});
        let items = billed_items("DeleteItem", &json!({"TableName": "codes"}), &res);
        assert_eq!(items[0]["bytes"], 5);
        assert_eq!(items[0]["attrs"], json!(["pk"]));
        let blind = billed_items("DeleteItem", &json!({"TableName": "codes"}), &Value::Null);
        assert_eq!(blind[0]["attrs"], Value::Null);
    }

    #[test]
    fn metering_is_off_unless_the_variable_names_a_file() {
        // The bench sets the variable per process; the test binary never does.
        assert!(std::env::var(METER_FILE).is_err());
        assert!(Meter::from_env().is_none());
    }
}
