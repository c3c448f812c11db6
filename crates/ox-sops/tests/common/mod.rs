//! Helpers the ox-sops integration tests share.

/// sops prints the float 1.0 as `1` (and sops <= 3.13.1 reads JSON
/// integers as floats), so integral floats and ints compare equal.
pub fn norm(v: &[ox_sops::Value]) -> Vec<ox_sops::Value> {
    use ox_sops::{Item, Value};
    fn go(v: &Value) -> Value {
        match v {
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::Int(*f as i64),
            Value::Map(m) => Value::Map(
                m.iter()
                    .map(|i| match i {
                        Item::Pair(k, v) => Item::Pair(k.clone(), go(v)),
                        c => c.clone(),
                    })
                    .collect(),
            ),
            Value::List(l) => Value::List(l.iter().map(go).collect()),
            v => v.clone(),
        }
    }
    v.iter().map(go).collect()
}
