//! Property test: the parser and evaluator never panic, whatever the
//! input. Programs are random token soups (most are syntax errors) and
//! random well-formed expressions built from a small grammar.

use ox_eval::{Eval, Settings};

/// xorshift: deterministic, dependency-free randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const TOKENS: &[&str] = &[
    "let",
    "in",
    "rec",
    "with",
    "inherit",
    "if",
    "then",
    "else",
    "assert",
    "or",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ";",
    ":",
    "=",
    ".",
    ",",
    "?",
    "@",
    "...",
    "+",
    "-",
    "*",
    "/",
    "++",
    "//",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "->",
    "!",
    "x",
    "y",
    "a",
    "b",
    "1",
    "0",
    "2.5",
    "\"s\"",
    "\"${x}\"",
    "''i''",
    "./p",
    "<n>",
    "null",
    "true",
    "builtins",
    "map",
    "throw",
    "import",
    "${",
    "\"",
    "''",
    "__curPos",
    "-9223372036854775807",
    "99999999999999999999",
];

fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.next() % 24;
    (0..n)
        .map(|_| rng.pick(TOKENS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 {
        return rng
            .pick(&[
                "1", "x", "\"s\"", "[ ]", "{ }", "null", "true", "2.5", "(-3)", "a.b",
            ])
            .to_string();
    }
    let d = depth - 1;
    match rng.next() % 12 {
        0 => format!("({} + {})", expr(rng, d), expr(rng, d)),
        1 => format!(
            "(let x = {}; a = {{ b = {}; }}; in {})",
            expr(rng, d),
            expr(rng, d),
            expr(rng, d)
        ),
        2 => format!(
            "(if {} then {} else {})",
            expr(rng, d),
            expr(rng, d),
            expr(rng, d)
        ),
        3 => format!("[ {} {} ]", expr(rng, d), expr(rng, d)),
        4 => format!("{{ x = {}; y = {}; }}", expr(rng, d), expr(rng, d)),
        5 => format!("((x: {}) {})", expr(rng, d), expr(rng, d)),
        6 => format!("({} // {})", expr(rng, d), expr(rng, d)),
        7 => format!("({}.x or {})", expr(rng, d), expr(rng, d)),
        8 => format!("(builtins.toJSON {})", expr(rng, d)),
        9 => format!("(toString {})", expr(rng, d)),
        10 => format!("({} == {})", expr(rng, d), expr(rng, d)),
        _ => format!("(with {}; {})", expr(rng, d), expr(rng, d)),
    }
}

fn run(src: &str) {
    let r = std::panic::catch_unwind(|| {
        let mut ev = Eval::new(Settings::default());
        if let Ok(v) = ev.eval_string(src, "«fuzz»", "/nonexistent") {
            let _ = ev.force_deep(v.clone());
            let _ = ox_eval::print::print_value(&v);
        }
    });
    assert!(r.is_ok(), "panic on input: {}", src);
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for _ in 0..3000 {
        run(&soup(&mut rng));
    }
}

#[test]
fn random_expressions_never_panic() {
    let mut rng = Rng(0xdeadbeefcafef00d);
    for _ in 0..1500 {
        let d = (rng.next() % 5) as u32;
        run(&expr(&mut rng, d));
    }
}

#[test]
fn deep_programs_do_not_overflow_the_stack() {
    let mut ev = Eval::new(Settings::default());
    // a 10,000-deep chain of thunks
    let v = ev
        .eval_string(
            "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 10000",
            "«deep»",
            "/",
        )
        .expect("deep recursion evaluates");
    assert!(matches!(v, ox_eval::Value::Int(10000)));
    let v = ev
        .eval_string(
            "builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 1000000)",
            "«fold»",
            "/",
        )
        .expect("foldl' over a million elements");
    assert!(matches!(v, ox_eval::Value::Int(499999500000)));
    // a runaway recursion is a clean error
    let e = ev
        .eval_string("let f = x: f (x + 1); in f 0", "«runaway»", "/")
        .expect_err("runaway recursion must fail");
    assert!(e.msg.contains("stack overflow"), "{}", e.msg);
}

#[test]
fn value_sizes_stay_small() {
    // Values are copied everywhere; keep them two words.
    assert_eq!(std::mem::size_of::<ox_eval::Value>(), 16);
    println!(
        "ThunkState {} Env {} Attrs {}",
        std::mem::size_of::<ox_eval::value::ThunkState>(),
        std::mem::size_of::<ox_eval::value::Env>(),
        std::mem::size_of::<ox_eval::value::Attrs>()
    );
}
