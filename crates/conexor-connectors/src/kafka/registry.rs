//! A schema registry with Confluent's API, for values in Confluent's wire
//! format (byte 0, a 4-byte schema id, then the datum): Avro datums are
//! decoded with the writer's schema, JSON Schema values are JSON already.
//! The registry is reached like every HTTP source (destination policy in
//! the resolver, no redirect, a byte cap); schemas are cached by id for the
//! life of the source. Anything that cannot be decoded is shown as base64
//! with a note, never an error for the whole peek.

use crate::Error;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Most bytes of one schema the registry may send.
const MAX_SCHEMA_BYTES: usize = 1024 * 1024;
/// Most bytes one Avro datum may make the decoder allocate.
const MAX_AVRO_ALLOCATION: usize = 16 * 1024 * 1024;

/// A schema as the registry gave it.
pub(crate) enum Writer {
    Avro(Box<apache_avro::Schema>),
    Json,
    /// Protobuf, or a schema that could not be read: why.
    Unreadable(String),
}

pub(crate) struct Registry {
    client: reqwest::Client,
    base: url::Url,
    user: Option<(String, Zeroizing<String>)>,
    cache: Mutex<HashMap<u32, Arc<Writer>>>,
}

impl Registry {
    pub fn open(
        url: &str,
        user: Option<(String, Zeroizing<String>)>,
        options: &crate::OpenOptions,
    ) -> Result<Registry, Error> {
        let mut base = url::Url::parse(url.trim())
            .map_err(|_| Error::Spec("the schema registry URL is not a URL".into()))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.host_str().is_none_or(str::is_empty)
            || !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
        {
            return Err(Error::Spec(
                "the schema registry URL is http(s)://host[:port][/path], its login given apart"
                    .into(),
            ));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        crate::http::check_literal(&base, &options.destinations)?;
        let client = crate::http::client(
            crate::http::ClientSettings {
                https_only: false,
                verify_tls: true,
                ca_pem: None,
                redirect: reqwest::redirect::Policy::none(),
            },
            options,
        )?;
        // The decoder's own bound on what a datum's lengths may claim.
        apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        Ok(Registry {
            client,
            base,
            user,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The writer schema of `id`, fetched once.
    pub async fn writer(&self, id: u32) -> Arc<Writer> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return found;
        }
        let writer = Arc::new(match self.fetch(id).await {
            Ok(w) => w,
            Err(why) => Writer::Unreadable(why),
        });
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 1000 {
                cache.clear();
            }
            cache.insert(id, writer.clone());
        }
        writer
    }

    async fn fetch(&self, id: u32) -> Result<Writer, String> {
        let url = self
            .base
            .join(&format!("schemas/ids/{id}"))
            .map_err(|_| "the registry URL cannot name the schema".to_owned())?;
        let mut request = self.client.get(url).header(
            "accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some((user, password)) = &self.user {
            request = request.basic_auth(user, Some(password.as_str()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| match crate::http::transport_error(e) {
                Error::Destination(why) => format!("the schema registry is refused: {why}"),
                _ => "the schema registry could not be reached".to_owned(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "the schema registry answered {} for schema {id}",
                status.as_u16()
            ));
        }
        let (body, more) = crate::http::read_capped(response, MAX_SCHEMA_BYTES)
            .await
            .map_err(|_| "the schema registry's answer was cut off".to_owned())?;
        if more {
            return Err(format!(
                "schema {id} is larger than {MAX_SCHEMA_BYTES} bytes"
            ));
        }
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| "the schema registry did not answer JSON".to_owned())?;
        let text = answer["schema"]
            .as_str()
            .ok_or_else(|| "the schema registry's answer holds no schema".to_owned())?;
        match answer["schemaType"].as_str().unwrap_or("AVRO") {
            "AVRO" => apache_avro::Schema::parse_str(text)
                .map(|s| Writer::Avro(Box::new(s)))
                .map_err(|_| format!("schema {id} is not an Avro schema this reader can use")),
            "JSON" => Ok(Writer::Json),
            other => Ok(Writer::Unreadable(format!(
                "{} schemas are not decoded",
                other
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(16)
                    .collect::<String>()
            ))),
        }
    }
}

/// Decodes a Confluent-framed part (`bytes[5..]` after magic and id) with
/// its writer schema, within `cap` bytes of answer; None when it cannot.
pub(crate) fn decode(writer: &Writer, id: u32, payload: &[u8], total: usize, cap: usize) -> Value {
    // The datum is binary whatever its bytes look like: base64.
    let note = |why: &str| {
        use base64::Engine;
        let kept = &payload[..payload.len().min(cap)];
        json!({
            "encoding": "base64",
            "data": base64::engine::general_purpose::STANDARD.encode(kept),
            "bytes": total,
            "truncated": kept.len() < payload.len(),
            "schema_id": id,
            "note": format!("schema {id}: {why}; shown undecoded"),
        })
    };
    match writer {
        Writer::Avro(schema) => {
            let mut reader = payload;
            match apache_avro::from_avro_datum(schema, &mut reader, None) {
                Ok(value) => match serde_json::Value::try_from(value) {
                    Ok(json) => {
                        let size = crate::json_len(&json) as usize;
                        if size > cap {
                            return note("the decoded value is larger than the cap");
                        }
                        json!({"encoding": "avro", "schema_id": id, "data": json, "bytes": total, "truncated": false})
                    }
                    Err(_) => note("the Avro value has no JSON form"),
                },
                Err(_) => note("the bytes do not decode with the registry's Avro schema"),
            }
        }
        Writer::Json => match serde_json::from_slice::<Value>(payload) {
            Ok(json) if payload.len() <= cap => {
                json!({"encoding": "json_schema", "schema_id": id, "data": json, "bytes": total, "truncated": false})
            }
            Ok(_) => note("the value is larger than the cap"),
            Err(_) => note("the value is not the JSON its schema says"),
        },
        Writer::Unreadable(why) => note(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_datums_decode_with_the_writer_schema_and_bad_ones_are_shown_raw() {
        let schema = apache_avro::Schema::parse_str(
            r#"{"type": "record", "name": "Payment", "fields": [
                {"name": "id", "type": "long"}, {"name": "currency", "type": "string"}]}"#,
        )
        .unwrap();
        let mut record = apache_avro::types::Record::new(&schema).unwrap();
        record.put("id", 42i64);
        record.put("currency", "EUR");
        let datum = apache_avro::to_avro_datum(&schema, record).unwrap();
        let writer = Writer::Avro(Box::new(schema));
        let v = decode(&writer, 7, &datum, datum.len() + 5, 1024);
        assert_eq!(v["encoding"], "avro");
        assert_eq!(v["data"]["currency"], "EUR");
        assert_eq!(v["data"]["id"], 42);
        // An array that claims 2^62 items: refused by the allocation bound, shown raw.
        apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        let hostile = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        let v = decode(&writer, 7, &hostile, 14, 1024);
        assert_eq!(v["encoding"], "base64", "{v}");
        assert!(v["note"].as_str().unwrap().contains("do not decode"));
    }
}
