//! Python objects <-> the core's JSON values.
//!
//! The same rules as JSON text apply to Python values, so that `sign(dict)`
//! and `verify(bytes)` agree: only mappings (str keys), list/tuple, str, int,
//! float, bool and None; floats must be finite; ints must round-trip exactly
//! through a double (they are checked with the same decimal rule as JSON
//! number literals); strings must not hold lone surrogates.

use proof_messenger_core::json::{self, Limits, Number, Object, Value};
use proof_messenger_core::{Error, ErrorCode, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};

/// 2^53: every integer of at most this magnitude is a double, printed exactly.
const EXACT_INT: i64 = 1 << 53;

/// Converts a Python value to a JSON value, nesting at most `max_depth` containers.
pub fn to_value(obj: &Bound<'_, PyAny>, max_depth: usize) -> Result<Value> {
    convert(obj, 0, max_depth)
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize, max_depth: usize) -> Result<Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return string(s).map(Value::String);
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return integer(i).map(Value::Number);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value()).map(Value::Number);
    }
    if depth >= max_depth
        && (obj.is_instance_of::<PyDict>()
            || obj.is_instance_of::<PyList>()
            || obj.is_instance_of::<PyTuple>()
            || is_mapping(obj))
    {
        return Err(Error::new(ErrorCode::NestingTooDeep, format!("nesting deeper than {max_depth}")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return object(d.iter(), d.len(), depth, max_depth);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l.iter().map(|v| convert(&v, depth + 1, max_depth)).collect::<Result<Vec<_>>>().map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|v| convert(&v, depth + 1, max_depth)).collect::<Result<Vec<_>>>().map(Value::Array);
    }
    if is_mapping(obj) {
        let items = mapping_items(obj)?;
        let len = items.len();
        return object(items.into_iter(), len, depth, max_depth);
    }
    let type_name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    Err(Error::new(ErrorCode::InvalidType, format!("{type_name} is not a JSON type")))
}

/// A JSON object from a dict's or a mapping's `(key, value)` pairs; keys must be str.
fn object<'py>(
    pairs: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    len: usize,
    depth: usize,
    max_depth: usize,
) -> Result<Value> {
    let mut object = Object::with_capacity(len);
    for (k, v) in pairs {
        let key = k
            .cast::<PyString>()
            .map_err(|_| Error::new(ErrorCode::InvalidType, "object keys must be str"))
            .and_then(string)?;
        object.insert(key, convert(&v, depth + 1, max_depth)?)?;
    }
    Ok(Value::Object(object))
}

/// A `collections.abc.Mapping` that is not a dict (dicts take the fast path).
pub fn is_mapping(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyMapping>().is_ok()
}

/// A mapping's items, for non-dict mappings (`MappingProxyType`, custom `Mapping`s).
fn mapping_items<'py>(obj: &Bound<'py, PyAny>) -> Result<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let fail = |_| Error::new(ErrorCode::InvalidType, "a mapping whose items cannot be read");
    let items = obj.call_method0("items").map_err(fail)?;
    let mut out = Vec::new();
    for item in items.try_iter().map_err(fail)? {
        out.push(item.and_then(|pair| pair.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>()).map_err(fail)?);
    }
    Ok(out)
}

/// A Python str as Rust text: a lone surrogate is `lone_surrogate`.
pub fn string(s: &Bound<'_, PyString>) -> Result<String> {
    // to_str fails exactly when the str holds a lone surrogate (not encodable as UTF-8).
    s.to_str().map(str::to_owned).map_err(|_| Error::new(ErrorCode::LoneSurrogate, "string contains a lone surrogate"))
}

fn integer(i: &Bound<'_, PyInt>) -> Result<Number> {
    if let Ok(small) = i.extract::<i64>() {
        if (-EXACT_INT..=EXACT_INT).contains(&small) {
            return Number::from_i64(small);
        }
    }
    // Large ints follow the JSON literal rule: accepted only if printing the
    // nearest double gives back the same decimal value. An int Python refuses
    // to print (over sys.get_int_max_str_digits() digits, 4300 by default) is
    // far beyond the double range, as its literal would be.
    let text = i.str().map_err(|_| Error::new(ErrorCode::NonFiniteNumber, "int beyond the IEEE 754 double range"))?;
    let text = text.to_str().map_err(|_| Error::new(ErrorCode::InvalidType, "int cannot be printed"))?;
    let limits = Limits { max_bytes: text.len(), max_depth: 1 };
    match json::parse(text.as_bytes(), &limits)? {
        Value::Number(n) => Ok(n),
        _ => Err(Error::new(ErrorCode::InvalidType, "int is not a number")),
    }
}

/// Converts a JSON value to Python objects (dict, list, str, int, float, bool, None).
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_python(py, *n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(object) => object_to_python(py, object)?.into_any(),
    })
}

/// A JSON number as Python: an int when it is an integer of at most 2^53 in
/// magnitude (where int and double are the same value), else a float. Beyond
/// 2^53 a Python int would claim a precision the double does not have, and
/// re-canonicalising it could fail (2^60 as an int is `inexact_number`; as a
/// float it prints the digits that were signed).
fn number_to_python(py: Python<'_>, n: Number) -> PyResult<Bound<'_, PyAny>> {
    match n.as_exact_i64().filter(|i| (-EXACT_INT..=EXACT_INT).contains(i)) {
        Some(i) => Ok(i.into_pyobject(py)?.into_any()),
        None => Ok(PyFloat::new(py, n.as_f64()).into_any()),
    }
}

/// Converts a JSON object to a dict (members in their original order).
pub fn object_to_python<'py>(py: Python<'py>, object: &Object) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in object.iter() {
        dict.set_item(key, to_python(py, value)?)?;
    }
    Ok(dict)
}
