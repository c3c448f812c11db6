//! Evaluate a file strictly and print it, with the evaluator alone: a
//! quick way to measure ox-eval changes without rebuilding the whole `ox`
//! binary (`cargo run --release -p ox-eval --example evalbench FILE`).
//! Uses mimalloc, configured like `ox` does (`ox_eval::alloc`).

#[global_allocator]
static GLOBAL: ox_eval::alloc::MiAlloc = ox_eval::alloc::MiAlloc;

fn main() {
    ox_eval::alloc::configure();
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: evalbench FILE.nix");
        std::process::exit(2);
    };
    let mut ev = ox_eval::Eval::new(ox_eval::Settings::default());
    let path = std::path::Path::new(&file);
    let v = ev
        .eval_file(path)
        .and_then(|v| ev.force_deep(v))
        .unwrap_or_else(|e| {
            eprintln!("{}", ox_eval::render(&e, false));
            std::process::exit(1);
        });
    println!("{}", ox_eval::print::print_value(&v));
}
