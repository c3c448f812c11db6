//! The evaluator's view of the store: path computation for `toFile`,
//! path copying (`"${./x}"`, `builtins.path`, `filterSource`), hashing
//! builtins and `derivationStrict`. The algorithms live in `ox-store`;
//! this module only converts between Nix values and that crate.

use crate::builtins::not_implemented;
use crate::error::{Result, Span};
use crate::eval::Eval;
use crate::value::Value;

pub fn placeholder(_output: &str) -> String {
    String::new()
}

pub fn add_path(
    _ev: &mut Eval,
    path: &str,
    _name: Option<&str>,
    _recursive: bool,
    _filter: Option<Value>,
    span: Span,
) -> Result<String> {
    not_implemented(&format!("path copying ({})", path), span).map(|_| String::new())
}

pub fn to_file(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("toFile", span)
}
pub fn path_builtin(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("path", span)
}
pub fn filter_source(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("filterSource", span)
}
pub fn hash_string(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("hashString", span)
}
pub fn hash_file(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("hashFile", span)
}
pub fn convert_hash(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("convertHash", span)
}
pub fn derivation_strict(_ev: &mut Eval, _a: Vec<Value>, span: Span) -> Result<Value> {
    not_implemented("derivationStrict", span)
}
