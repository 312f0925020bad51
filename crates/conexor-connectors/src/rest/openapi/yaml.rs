//! A YAML description read into the JSON value the rest of the reader
//! walks, within a budget.
//!
//! yaml_serde bounds nesting (128) and alias jumps (100 per event), but an
//! alias to a large anchor still expands the whole anchor each time: a
//! 30 MB document could grow to gigabytes. The value is therefore built
//! here, node by node, and the read stops at [`MAX_NODES`] nodes or
//! [`MAX_TEXT`] bytes of strings, whatever the aliases. Mapping keys that
//! are numbers or booleans (`200:` under `responses`) become their text, as
//! JSON needs; YAML tags are refused.

use crate::Error;
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;

/// Most nodes (scalars, sequences, mappings) in one description.
const MAX_NODES: usize = 5_000_000;
/// Most bytes of string scalars and keys in one description.
const MAX_TEXT: usize = 64 * 1024 * 1024;

struct Budget {
    nodes: Cell<usize>,
    text: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Budget {
    fn node<E: serde::de::Error>(&self, text: usize) -> Result<(), E> {
        self.nodes.set(self.nodes.get() + 1);
        self.text.set(self.text.get() + text);
        if self.nodes.get() > MAX_NODES || self.text.get() > MAX_TEXT {
            self.exceeded.set(true);
            return Err(E::custom("budget"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Node<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.node(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.node(0)?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.node(0)?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.node(0)?;
        // .inf and .nan have no JSON form: kept as text.
        Ok(serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(v.to_string())))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.node(v.len())?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.0.node(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.0.node(0)?;
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.node(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.node(0)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".to_owned(),
                _ => return Err(A::Error::custom("a mapping key is not a scalar")),
            };
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(A::Error::custom("YAML tags (!Tag) are not read"))
    }
}

/// The description as JSON, or a clear error.
pub(super) fn to_json(text: &[u8]) -> Result<Value, Error> {
    let text = std::str::from_utf8(text)
        .map_err(|_| Error::Spec("the OpenAPI description is not UTF-8 text".into()))?;
    let budget = Budget {
        nodes: Cell::new(0),
        text: Cell::new(0),
        exceeded: Cell::new(false),
    };
    let read = || {
        let de = yaml_serde::Deserializer::from_str(text);
        Node(&budget).deserialize(de)
    };
    // The YAML crate asserts its own invariants with panics: one is this
    // description's error, not the process's.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) if budget.exceeded.get() => Err(Error::Spec(format!(
            "the YAML description expands past {MAX_NODES} nodes or {} MB of text (aliases repeat what they name)",
            MAX_TEXT >> 20
        ))),
        Ok(Err(e)) => Err(Error::Spec(match e.location() {
            Some(at) => format!(
                "the OpenAPI description is neither JSON nor valid YAML (line {}, column {})",
                at.line(),
                at.column()
            ),
            None => "the OpenAPI description is neither JSON nor valid YAML".to_owned(),
        })),
        Err(_) => Err(Error::Spec(
            "the OpenAPI description is not YAML this reader can read".into(),
        )),
    }
}
