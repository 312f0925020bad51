//! SQL Server values as JSON (DESIGN §8): `decimal`/`numeric` and `money` as
//! strings (exact), `datetimeoffset` in RFC 3339 with its offset, the other
//! date and time types in ISO 8601 without one, `uniqueidentifier` as text,
//! `varbinary`/`image` as `{"$b64": …}`, `bit` as a boolean, `bigint` past
//! 2^53 as a string. Parameters go the other way, bound (`@P1` …).

use crate::value::{bytes_value, unsupported};
use conexor_types::{float_value, int_value};
use serde_json::Value;
use std::borrow::Cow;
use tiberius::{ColumnData, ColumnType, FromSql, ToSql};

/// One cell as JSON; `column` is the column's declared type, which tells a
/// `money` (that the driver hands over as a float) from a `float`.
pub(crate) fn cell(column: ColumnType, data: &ColumnData<'static>) -> Value {
    match data {
        ColumnData::U8(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I16(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I32(v) => v.map_or(Value::Null, Value::from),
        ColumnData::I64(v) => v.map_or(Value::Null, int_value),
        ColumnData::F32(v) => match column {
            ColumnType::Money4 => v.map_or(Value::Null, |m| money(f64::from(m))),
            _ => v.map_or(Value::Null, |f| float_value(f64::from(f))),
        },
        ColumnData::F64(v) => match column {
            ColumnType::Money | ColumnType::Money4 => v.map_or(Value::Null, money),
            _ => v.map_or(Value::Null, float_value),
        },
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::String(v) => v
            .as_ref()
            .map_or(Value::Null, |s| Value::String(s.to_string())),
        ColumnData::Guid(v) => v.map_or(Value::Null, |g| Value::String(g.to_string())),
        ColumnData::Binary(v) => v.as_ref().map_or(Value::Null, |b| bytes_value(b)),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| Value::String(n.to_string())),
        ColumnData::Xml(v) => v
            .as_ref()
            .map_or(Value::Null, |x| Value::String(x.to_string())),
        ColumnData::DateTime(None)
        | ColumnData::SmallDateTime(None)
        | ColumnData::DateTime2(None)
        | ColumnData::Date(None)
        | ColumnData::Time(None)
        | ColumnData::DateTimeOffset(None) => Value::Null,
        ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_) => {
            match chrono::NaiveDateTime::from_sql(data) {
                Ok(Some(t)) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
                _ => unsupported("datetime"),
            }
        }
        ColumnData::Date(_) => match chrono::NaiveDate::from_sql(data) {
            Ok(Some(d)) => Value::String(d.to_string()),
            _ => unsupported("date"),
        },
        ColumnData::Time(_) => match chrono::NaiveTime::from_sql(data) {
            Ok(Some(t)) => Value::String(t.format("%H:%M:%S%.f").to_string()),
            _ => unsupported("time"),
        },
        ColumnData::DateTimeOffset(_) => {
            match chrono::DateTime::<chrono::FixedOffset>::from_sql(data) {
                Ok(Some(t)) => {
                    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
                }
                _ => unsupported("datetimeoffset"),
            }
        }
    }
}

/// `money` has four decimal places; the driver decodes it into a float
/// (exact for every money value below 2^53 / 10^4, the type's own range),
/// written back with those four places.
fn money(value: f64) -> Value {
    Value::String(format!("{value:.4}"))
}

/// The type name a result column reports (`Column.type` in an answer).
pub(crate) fn type_name(column: ColumnType) -> &'static str {
    match column {
        ColumnType::Null => "null",
        ColumnType::Bit | ColumnType::Bitn => "bit",
        ColumnType::Int1 => "tinyint",
        ColumnType::Int2 => "smallint",
        ColumnType::Int4 => "int",
        ColumnType::Int8 | ColumnType::Intn => "bigint",
        ColumnType::Datetime4 => "smalldatetime",
        ColumnType::Float4 => "real",
        ColumnType::Float8 | ColumnType::Floatn => "float",
        ColumnType::Money => "money",
        ColumnType::Money4 => "smallmoney",
        ColumnType::Datetime | ColumnType::Datetimen => "datetime",
        ColumnType::Guid => "uniqueidentifier",
        ColumnType::Decimaln => "decimal",
        ColumnType::Numericn => "numeric",
        ColumnType::Daten => "date",
        ColumnType::Timen => "time",
        ColumnType::Datetime2 => "datetime2",
        ColumnType::DatetimeOffsetn => "datetimeoffset",
        ColumnType::BigVarBin => "varbinary",
        ColumnType::BigVarChar => "varchar",
        ColumnType::BigBinary => "binary",
        ColumnType::BigChar => "char",
        ColumnType::NVarchar => "nvarchar",
        ColumnType::NChar => "nchar",
        ColumnType::Xml => "xml",
        ColumnType::Udt => "udt",
        ColumnType::Text => "text",
        ColumnType::Image => "image",
        ColumnType::NText => "ntext",
        ColumnType::SSVariant => "sql_variant",
    }
}

/// The declared type of a discovered column, as T-SQL writes it:
/// `nvarchar(50)`, `varchar(max)`, `decimal(10,2)`, `datetime2(7)`.
/// `max_length` is in bytes (-1 for `max`), as `sys.columns` gives it.
pub(crate) fn declared_type(name: &str, max_length: i16, precision: u8, scale: u8) -> String {
    let lower = name.to_ascii_lowercase();
    let length = |per_char: i16| {
        if max_length == -1 {
            "max".to_owned()
        } else {
            (max_length / per_char).to_string()
        }
    };
    match lower.as_str() {
        "varchar" | "char" | "varbinary" | "binary" => format!("{lower}({})", length(1)),
        "nvarchar" | "nchar" => format!("{lower}({})", length(2)),
        "decimal" | "numeric" => format!("{lower}({precision},{scale})"),
        "datetime2" | "datetimeoffset" | "time" => format!("{lower}({scale})"),
        _ => name.to_owned(),
    }
}

/// A JSON parameter bound to `@Pn`: strings, numbers, booleans and null as
/// themselves; an array or object as its JSON text.
pub(crate) enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Param {
    pub(crate) fn from_json(value: &Value) -> Param {
        match value {
            Value::Null => Param::Null,
            Value::Bool(b) => Param::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Param::Int(i),
                (None, Some(f)) => Param::Float(f),
                (None, None) => Param::Text(n.to_string()),
            },
            Value::String(s) => Param::Text(s.clone()),
            other => Param::Text(other.to_string()),
        }
    }
}

impl ToSql for Param {
    fn to_sql(&self) -> ColumnData<'_> {
        match self {
            Param::Null => ColumnData::String(None),
            Param::Bool(b) => ColumnData::Bit(Some(*b)),
            Param::Int(i) => ColumnData::I64(Some(*i)),
            Param::Float(f) => ColumnData::F64(Some(*f)),
            Param::Text(s) => ColumnData::String(Some(Cow::Borrowed(s.as_str()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime2, DateTimeOffset, Time};

    #[test]
    fn values_follow_the_design_mapping() {
        assert_eq!(
            cell(ColumnType::Int8, &ColumnData::I64(Some(1 << 60))),
            json!("1152921504606846976")
        );
        assert_eq!(
            cell(ColumnType::Int4, &ColumnData::I32(Some(-7))),
            json!(-7)
        );
        assert_eq!(
            cell(ColumnType::Bitn, &ColumnData::Bit(Some(true))),
            json!(true)
        );
        assert_eq!(cell(ColumnType::Int4, &ColumnData::I32(None)), Value::Null);
        // decimal(10,2) 12345.67 is exact, as a string.
        let decimal = ColumnData::Numeric(Some(Numeric::new_with_scale(1_234_567, 2)));
        assert_eq!(cell(ColumnType::Decimaln, &decimal), json!("12345.67"));
        // money arrives as a float: written with its four places, as a string.
        assert_eq!(
            cell(ColumnType::Money, &ColumnData::F64(Some(19.99))),
            json!("19.9900")
        );
        assert_eq!(
            cell(ColumnType::Float8, &ColumnData::F64(Some(0.5))),
            json!(0.5)
        );
        assert_eq!(
            cell(ColumnType::Float8, &ColumnData::F64(Some(f64::NAN))),
            json!("NaN")
        );
        let guid = tiberius::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            cell(ColumnType::Guid, &ColumnData::Guid(Some(guid))),
            json!("01234567-89ab-cdef-0123-456789abcdef")
        );
        assert_eq!(
            cell(
                ColumnType::BigVarBin,
                &ColumnData::Binary(Some(Cow::Owned(vec![0, 1, 2, 255])))
            ),
            json!({"$b64": "AAEC/w=="})
        );
        // 2026-12-03 is day 739,952 since 0001-01-01; 13:45:30.5 at scale 1.
        let date = Date::new(739_952);
        let time = Time::new(495_305, 1);
        assert_eq!(
            cell(ColumnType::Daten, &ColumnData::Date(Some(date))),
            json!("2026-12-03")
        );
        assert_eq!(
            cell(
                ColumnType::Datetime2,
                &ColumnData::DateTime2(Some(DateTime2::new(date, time)))
            ),
            json!("2026-12-03T13:45:30.500")
        );
        // A datetimeoffset keeps its offset (+02:00 is 120 minutes; the time is UTC).
        let offset = DateTimeOffset::new(DateTime2::new(date, time), 120);
        assert_eq!(
            cell(
                ColumnType::DatetimeOffsetn,
                &ColumnData::DateTimeOffset(Some(offset))
            ),
            json!("2026-12-03T15:45:30.500+02:00")
        );
    }

    #[test]
    fn declared_types_read_as_t_sql_writes_them() {
        assert_eq!(declared_type("nvarchar", 100, 0, 0), "nvarchar(50)");
        assert_eq!(declared_type("varchar", -1, 0, 0), "varchar(max)");
        assert_eq!(declared_type("decimal", 9, 10, 2), "decimal(10,2)");
        assert_eq!(declared_type("datetime2", 8, 27, 7), "datetime2(7)");
        assert_eq!(declared_type("int", 4, 10, 0), "int");
    }

    #[test]
    fn parameters_bind_as_their_json_kind() {
        assert!(matches!(
            Param::from_json(&json!(5)).to_sql(),
            ColumnData::I64(Some(5))
        ));
        assert!(matches!(
            Param::from_json(&json!(true)).to_sql(),
            ColumnData::Bit(Some(true))
        ));
        assert!(matches!(
            Param::from_json(&json!(null)).to_sql(),
            ColumnData::String(None)
        ));
        assert!(matches!(
            Param::from_json(&json!(1.5)).to_sql(),
            ColumnData::F64(Some(_))
        ));
        match Param::from_json(&json!({"a": [1]})).to_sql() {
            ColumnData::String(Some(s)) => assert_eq!(s, "{\"a\":[1]}"),
            other => panic!("{other:?}"),
        }
    }
}
