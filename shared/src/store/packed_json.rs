//! JSON documents stored deflate-compressed, as a binary attribute. A request-log entry
//! holds the body sent and the receiver's answer, and DynamoDB bills one write unit per
//! started KB of an item: compressed, an immediate delivery's entry fits one unit instead
//! of two, and a bundle's about a third of its plain size. Items written before hold the
//! plain JSON string, and still read.

use super::{Item, StoreError, StoreResult};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// `value` as JSON, compressed.
pub(crate) fn packed<T: serde::Serialize>(value: &T) -> StoreResult<AttributeValue> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut encoder =
        DeflateEncoder::new(Vec::with_capacity(json.len() / 2), Compression::default());
    encoder
        .write_all(&json)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let bytes = encoder
        .finish()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(AttributeValue::B(Blob::new(bytes)))
}

/// The JSON text of attribute `name`: compressed (binary) or plain (string).
pub(crate) fn json_text(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text.clone()),
        Some(AttributeValue::B(bytes)) => {
            let mut text = String::new();
            DeflateDecoder::new(bytes.as_ref())
                .read_to_string(&mut text)
                .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
            Ok(text)
        }
        _ => Err(StoreError::Corrupt(format!("item without {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_packed_document_reads_back_and_is_smaller() {
        let doc = json!({"body": "{\"message\":{\"text\":\"hello\"}}".repeat(20), "status": 200});
        let value = packed(&doc).unwrap();
        let plain = serde_json::to_string(&doc).unwrap();
        assert!(value.as_b().unwrap().as_ref().len() < plain.len() / 3);
        let item = Item::from([("entry".to_string(), value)]);
        let text = json_text(&item, "entry").unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            doc
        );
    }

    #[test]
    fn a_plain_document_written_before_still_reads() {
        let item = Item::from([("entry".to_string(), AttributeValue::S("{\"a\":1}".into()))]);
        assert_eq!(json_text(&item, "entry").unwrap(), "{\"a\":1}");
        assert!(json_text(&Item::new(), "entry").is_err());
    }
}
