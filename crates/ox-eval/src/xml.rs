//! `builtins.toXML`.

use crate::builtins::not_implemented;
use crate::error::{Result, Span};
use crate::eval::Eval;
use crate::value::Value;

pub fn to_xml(_ev: &mut Eval, _v: Value, span: Span) -> Result<String> {
    not_implemented("toXML", span).map(|_| String::new())
}
