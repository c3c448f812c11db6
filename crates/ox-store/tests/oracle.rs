//! Differential tests against C++ Nix (the `nix-bin` tools): the same
//! inputs must give byte-identical NARs, equal hashes and equal store
//! paths, and identical `.drv` files.
//!
//! Without the Nix binaries these tests print a skip notice and pass,
//! except under CI (`CI` set), where a missing oracle is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ox_store::derivation::{Derivation, DerivationSpec, DrvHashCache, FixedOutputSpec};
use ox_store::hash::{Hash, HashAlgo, HashFormat};
use ox_store::nar::{dump_path, dump_path_filtered, nar_hash, FileKind};
use ox_store::source::source_path;
use ox_store::store_path::{FileIngestionMethod, StoreDir, StorePath};
use ox_testhost::testsupport::Scratch;

// ---------------------------------------------------------------------
// Harness

/// True if the Nix tools are usable; otherwise skip (or fail under CI).
fn have_oracle() -> bool {
    let ok = ["nix-instantiate", "nix-store", "nix-hash", "nix"]
        .iter()
        .all(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("C++ Nix (nix-instantiate, nix-store, nix-hash, nix) is required under CI");
        }
        eprintln!("SKIP: C++ Nix tools not found; differential test not run");
    }
    ok
}

fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn run_str(cmd: &str, args: &[&str]) -> String {
    String::from_utf8(run(cmd, args))
        .expect("utf-8 output")
        .trim()
        .to_owned()
}

/// All string literals in `nix-instantiate --eval` output, unescaped.
fn nix_strings(out: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut chars = out.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(c) => s.push(c),
                    None => {}
                },
                c => s.push(c),
            }
        }
        res.push(s);
    }
    res
}

fn nix_eval(expr: &str) -> Vec<String> {
    nix_strings(&run_str(
        "nix-instantiate",
        &["--eval", "--strict", "--read-write-mode", "-E", expr],
    ))
}

fn nix_eval1(expr: &str) -> String {
    let v = nix_eval(expr);
    assert_eq!(v.len(), 1, "expected one string from {expr}: {v:?}");
    v.into_iter().next().unwrap_or_default()
}

/// A Nix string literal for `s`.
fn nix_lit(s: &str) -> String {
    let mut o = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '$' if chars.peek() == Some(&'{') => o.push_str("\\$"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn write(p: &Path, contents: &[u8], exec: bool) {
    fs::write(p, contents).expect("write");
    let mode = if exec { 0o755 } else { 0o644 };
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A tree with every kind of node and awkward names and sizes.
fn sample_tree(root: &Path) {
    let d = root.join("tree");
    fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
    fs::create_dir_all(d.join("empty-dir")).expect("mkdir");
    write(&d.join("empty"), b"", false);
    write(&d.join("hello.txt"), b"hello world\n", false);
    write(&d.join("eight888"), b"12345678", false);
    write(&d.join("script.sh"), b"#!/bin/sh\necho hi\n", true);
    write(&d.join("sub/deeper/data"), &[0u8, 1, 2, 255, 254], false);
    // Bigger than the 64 KiB copy buffer, not a multiple of 8.
    let big: Vec<u8> = (0..200_003u32).map(|i| (i * 7 % 251) as u8).collect();
    write(&d.join("sub/big.bin"), &big, true);
    // Sorting is by bytes: upper case, '-', '.', digits, UTF-8.
    for name in ["B", "a", "a.b", "a-b", "_x", "10", "9", "ä"] {
        write(&d.join("sub").join(name), name.as_bytes(), false);
    }
    symlink("hello.txt", d.join("link-to-file")).expect("symlink");
    symlink("sub", d.join("link-to-dir")).expect("symlink");
    symlink("/nonexistent/target", d.join("dangling")).expect("symlink");
    // Only the user x bit counts as executable.
    write(&d.join("group-exec"), b"g", false);
    fs::set_permissions(d.join("group-exec"), fs::Permissions::from_mode(0o654)).expect("chmod");
}

// ---------------------------------------------------------------------
// Hashes

#[test]
fn hash_string_matches_nix() {
    if !have_oracle() {
        return;
    }
    let inputs = ["", "x", "hello world\n", "ünïcödé ✓", &"long".repeat(1000)];
    let mut expr = String::from("[");
    let mut want = Vec::new();
    for algo in HashAlgo::ALL {
        for s in inputs {
            expr.push_str(&format!(" (builtins.hashString \"{algo}\" {})", nix_lit(s)));
            want.push(Hash::digest(algo, s.as_bytes()).to_base16());
        }
    }
    expr.push_str(" ]");
    assert_eq!(nix_eval(&expr), want);
}

#[test]
fn hash_file_and_flat_nix_hash_match() {
    if !have_oracle() {
        return;
    }
    let t = Scratch::new("store-hashfile");
    sample_tree(t.path());
    let f = t.path().join("tree/sub/big.bin");
    let fs_ = f.to_str().expect("utf-8 path");
    for algo in HashAlgo::ALL {
        let ours = Hash::of_file(algo, &f).expect("hash file");
        let nix = nix_eval1(&format!("builtins.hashFile \"{algo}\" {fs_}"));
        assert_eq!(ours.to_base16(), nix, "{algo}");
        let nix = run_str(
            "nix-hash",
            &["--flat", "--base32", "--type", algo.name(), fs_],
        );
        assert_eq!(ours.to_base32(), nix, "{algo}");
    }
}

#[test]
fn hash_conversions_match_nix_hash() {
    if !have_oracle() {
        return;
    }
    for algo in HashAlgo::ALL {
        for seed in ["a", "b", "conversion"] {
            let h = Hash::digest(algo, seed.as_bytes());
            // nix-hash accepts any encoding and converts it.
            for form in [
                h.to_base16(),
                h.to_base32(),
                h.to_base64(),
                h.to_sri(),
                h.to_string_as(HashFormat::Base32, true),
            ] {
                let b32 = run_str("nix-hash", &["--type", algo.name(), "--to-base32", &form]);
                assert_eq!(b32, h.to_base32(), "{algo} {form}");
                let b16 = run_str("nix-hash", &["--type", algo.name(), "--to-base16", &form]);
                assert_eq!(b16, h.to_base16(), "{algo} {form}");
                // nix-hash 2.8 has no SRI/base-64 output; `nix hash` does.
                let nix_hash = |to: &str| {
                    run_str(
                        "nix",
                        &[
                            "--extra-experimental-features",
                            "nix-command",
                            "hash",
                            to,
                            "--type",
                            algo.name(),
                            &form,
                        ],
                    )
                };
                let sri = nix_hash("to-sri");
                assert_eq!(sri, h.to_sri(), "{algo} {form}");
                assert_eq!(nix_hash("to-base64"), h.to_base64(), "{algo} {form}");
                // And our parser reads what Nix printed.
                assert_eq!(Hash::parse(&b32, Some(algo)).as_ref(), Ok(&h));
                assert_eq!(Hash::parse(&sri, None).as_ref(), Ok(&h));
                assert_eq!(
                    Hash::parse(&h.to_string_as(HashFormat::Base64, true), None).as_ref(),
                    Ok(&h)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------
// NAR and source paths

#[test]
fn nar_dump_matches_nix_store_dump() {
    if !have_oracle() {
        return;
    }
    let t = Scratch::new("store-nar");
    sample_tree(t.path());
    let tree = t.path().join("tree");
    for p in [
        tree.clone(),
        tree.join("hello.txt"),
        tree.join("script.sh"),
        tree.join("empty"),
        tree.join("link-to-dir"),
        tree.join("empty-dir"),
        tree.join("sub"),
    ] {
        let mut ours = Vec::new();
        dump_path(&p, &mut ours).expect("dump");
        let theirs = run("nix-store", &["--dump", p.to_str().expect("utf-8")]);
        assert!(ours == theirs, "NAR of {} differs", p.display());
    }
}

#[test]
fn nar_hash_matches_nix_hash() {
    if !have_oracle() {
        return;
    }
    let t = Scratch::new("store-narhash");
    sample_tree(t.path());
    let tree = t.path().join("tree");
    let ts = tree.to_str().expect("utf-8");
    for algo in HashAlgo::ALL {
        let ours = nar_hash(&tree, algo).expect("hash");
        let b32 = run_str("nix-hash", &["--type", algo.name(), "--base32", ts]);
        assert_eq!(ours.hash.to_base32(), b32, "{algo}");
        let b16 = run_str("nix-hash", &["--type", algo.name(), ts]);
        assert_eq!(ours.hash.to_base16(), b16, "{algo}");
    }
}

#[test]
fn source_paths_match_builtins_path() {
    if !have_oracle() {
        return;
    }
    let sd = StoreDir::default();
    let t = Scratch::new("store-srcpath");
    sample_tree(t.path());
    let tree = t.path().join("tree");
    let ts = tree.to_str().expect("utf-8");
    let all = |_: &Path, _: FileKind| true;

    // builtins.path with a name, and plain interpolation (base name).
    let ours = source_path(
        &sd,
        &tree,
        "x",
        FileIngestionMethod::Recursive,
        HashAlgo::Sha256,
        all,
    )
    .expect("source path");
    let nix = nix_eval1(&format!("builtins.path {{ path = {ts}; name = \"x\"; }}"));
    assert_eq!(sd.print(&ours.path), nix);
    let ours = source_path(
        &sd,
        &tree,
        "tree",
        FileIngestionMethod::Recursive,
        HashAlgo::Sha256,
        all,
    )
    .expect("source path");
    assert_eq!(sd.print(&ours.path), nix_eval1(&format!("\"${{{ts}}}\"")));
    assert_eq!(
        ours.nar_hash,
        nar_hash(&tree, HashAlgo::Sha256).expect("hash").hash
    );

    // A single file interpolated.
    let file = tree.join("hello.txt");
    let fs_ = file.to_str().expect("utf-8");
    let ours = source_path(
        &sd,
        &file,
        "hello.txt",
        FileIngestionMethod::Recursive,
        HashAlgo::Sha256,
        all,
    )
    .expect("source path");
    assert_eq!(sd.print(&ours.path), nix_eval1(&format!("\"${{{fs_}}}\"")));

    // Filtered: builtins.path { filter } and builtins.filterSource.
    let keep = |p: &Path, k: FileKind| {
        k != FileKind::Symlink && p.file_name().is_some_and(|n| n != "deeper" && n != "B")
    };
    let nix_filter =
        "p: t: t != \"symlink\" && baseNameOf p != \"deeper\" && baseNameOf p != \"B\"";
    let ours = source_path(
        &sd,
        &tree,
        "filtered",
        FileIngestionMethod::Recursive,
        HashAlgo::Sha256,
        keep,
    )
    .expect("source path");
    let nix = nix_eval1(&format!(
        "builtins.path {{ path = {ts}; name = \"filtered\"; filter = {nix_filter}; }}"
    ));
    assert_eq!(sd.print(&ours.path), nix);
    let ours = source_path(
        &sd,
        &tree,
        "tree",
        FileIngestionMethod::Recursive,
        HashAlgo::Sha256,
        keep,
    )
    .expect("source path");
    let nix = nix_eval1(&format!("builtins.filterSource ({nix_filter}) {ts}"));
    assert_eq!(sd.print(&ours.path), nix);
    // The filtered NAR really differs from the unfiltered one.
    let mut a = Vec::new();
    let mut b = Vec::new();
    dump_path(&tree, &mut a).expect("dump");
    dump_path_filtered(&tree, &mut b, keep).expect("dump");
    assert_ne!(a, b);

    // Flat (recursive = false) and an expected sha256.
    let ours = source_path(
        &sd,
        &file,
        "flat",
        FileIngestionMethod::Flat,
        HashAlgo::Sha256,
        all,
    )
    .expect("source path");
    let nix = nix_eval1(&format!(
        "builtins.path {{ path = {fs_}; name = \"flat\"; recursive = false; }}"
    ));
    assert_eq!(sd.print(&ours.path), nix);
    let nix = nix_eval1(&format!(
        "builtins.path {{ path = {fs_}; name = \"flat\"; recursive = false; sha256 = \"{}\"; }}",
        ours.content_hash.to_base32()
    ));
    assert_eq!(sd.print(&ours.path), nix);
}

#[test]
fn add_fixed_paths_match_nix_store() {
    if !have_oracle() {
        return;
    }
    let sd = StoreDir::default();
    let t = Scratch::new("store-addfixed");
    sample_tree(t.path());
    let tree = t.path().join("tree");
    let file = tree.join("script.sh");
    let all = |_: &Path, _: FileKind| true;
    for algo in [HashAlgo::Sha1, HashAlgo::Sha256, HashAlgo::Sha512] {
        let ours = source_path(
            &sd,
            &tree,
            "tree",
            FileIngestionMethod::Recursive,
            algo,
            all,
        )
        .expect("source path");
        let nix = run_str(
            "nix-store",
            &[
                "--add-fixed",
                "--recursive",
                algo.name(),
                tree.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(sd.print(&ours.path), nix, "recursive {algo}");
        let ours = source_path(
            &sd,
            &file,
            "script.sh",
            FileIngestionMethod::Flat,
            algo,
            all,
        )
        .expect("source path");
        let nix = run_str(
            "nix-store",
            &["--add-fixed", algo.name(), file.to_str().expect("utf-8")],
        );
        assert_eq!(sd.print(&ours.path), nix, "flat {algo}");
    }
}

#[test]
fn to_file_paths_match() {
    if !have_oracle() {
        return;
    }
    let sd = StoreDir::default();
    let a = sd.text_path_for("a", b"x", &BTreeSet::new()).expect("path");
    let pa = sd.print(&a);
    let contents = format!("ref: {pa}\n");
    let b = sd
        .text_path_for("b.sh", contents.as_bytes(), &[a.clone()].into())
        .expect("path");
    let nix = nix_eval(
        "let a = builtins.toFile \"a\" \"x\"; in \
         [ a (builtins.toFile \"b.sh\" \"ref: ${a}\\n\") ]",
    );
    assert_eq!(nix, vec![pa, sd.print(&b)]);
    assert_eq!(
        ox_store::placeholder("out"),
        nix_eval1("builtins.placeholder \"out\"")
    );
    assert_eq!(
        ox_store::placeholder("dev"),
        nix_eval1("builtins.placeholder \"dev\"")
    );
}

// ---------------------------------------------------------------------
// Derivations

/// A piece of a string attribute: literal text or something whose store
/// path is interpolated (and which lands in the string context).
#[derive(Clone)]
enum Part {
    Lit(&'static str),
    /// Output of an earlier derivation in the same test (index, output).
    Out(usize, &'static str),
    ToFile(&'static str, &'static str),
    Path(PathBuf),
}

#[derive(Clone)]
enum Val {
    Str(Vec<Part>),
    Bool(bool),
    Null,
    Int(i64),
    List(Vec<Val>),
}

fn s(lit: &'static str) -> Val {
    Val::Str(vec![Part::Lit(lit)])
}

fn strs(items: &[&'static str]) -> Val {
    Val::List(items.iter().map(|i| s(i)).collect())
}

struct TestDrv {
    attrs: Vec<(&'static str, Val)>,
    args: Vec<Vec<Part>>,
}

fn base_drv(name: &'static str) -> TestDrv {
    TestDrv {
        attrs: vec![
            ("name", s(name)),
            ("system", s("x86_64-linux")),
            ("builder", s("/bin/sh")),
        ],
        args: vec![],
    }
}

impl TestDrv {
    /// Sets an attribute, replacing an existing one of that name.
    fn attr(mut self, k: &'static str, v: Val) -> Self {
        self.attrs.retain(|(key, _)| *key != k);
        self.attrs.push((k, v));
        self
    }
    fn args(mut self, a: Vec<Vec<Part>>) -> Self {
        self.args = a;
        self
    }
}

/// What evaluating one test derivation produced on our side.
struct Ours {
    built: ox_store::BuiltDerivation,
}

fn nix_part(p: &Part) -> String {
    match p {
        Part::Lit(l) => {
            let q = nix_lit(l);
            q[1..q.len() - 1].to_owned()
        }
        Part::Out(i, o) => format!("${{d{i}.{o}}}"),
        Part::ToFile(n, c) => format!("${{builtins.toFile {} {}}}", nix_lit(n), nix_lit(c)),
        Part::Path(p) => format!("${{{}}}", p.display()),
    }
}

fn nix_val(v: &Val) -> String {
    match v {
        Val::Str(parts) => format!("\"{}\"", parts.iter().map(nix_part).collect::<String>()),
        Val::Bool(b) => b.to_string(),
        Val::Null => "null".into(),
        Val::Int(i) => i.to_string(),
        Val::List(items) => format!(
            "[ {} ]",
            items
                .iter()
                .map(|i| format!("({})", nix_val(i)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// What the evaluator does with string contexts, done by hand.
struct Ctx<'a> {
    sd: &'a StoreDir,
    done: &'a [Ours],
    srcs: BTreeSet<StorePath>,
    drvs: BTreeMap<StorePath, BTreeSet<String>>,
}

impl Ctx<'_> {
    fn part(&mut self, p: &Part) -> String {
        match p {
            Part::Lit(l) => (*l).to_owned(),
            Part::Out(i, o) => {
                let b = &self.done[*i].built;
                self.drvs
                    .entry(b.drv_path.clone())
                    .or_default()
                    .insert((*o).to_owned());
                self.sd.print(&b.outputs[*o])
            }
            Part::ToFile(n, c) => {
                let p = self
                    .sd
                    .text_path_for(n, c.as_bytes(), &BTreeSet::new())
                    .expect("toFile path");
                self.srcs.insert(p.clone());
                self.sd.print(&p)
            }
            Part::Path(path) => {
                let name = ox_store::source::default_name(path).expect("name");
                let sp = source_path(
                    self.sd,
                    path,
                    name,
                    FileIngestionMethod::Recursive,
                    HashAlgo::Sha256,
                    |_, _| true,
                )
                .expect("source path");
                self.srcs.insert(sp.path.clone());
                self.sd.print(&sp.path)
            }
        }
    }

    /// derivationStrict's coercion of attribute values to env strings.
    fn val(&mut self, v: &Val) -> String {
        match v {
            Val::Str(parts) => parts.iter().map(|p| self.part(p)).collect(),
            Val::Bool(true) => "1".into(),
            Val::Bool(false) | Val::Null => String::new(),
            Val::Int(i) => i.to_string(),
            Val::List(items) => items
                .iter()
                .map(|i| self.val(i))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn build_ours(sd: &StoreDir, cache: &mut DrvHashCache, done: &[Ours], d: &TestDrv) -> Ours {
    let mut ctx = Ctx {
        sd,
        done,
        srcs: BTreeSet::new(),
        drvs: BTreeMap::new(),
    };
    let mut env = BTreeMap::new();
    let mut outputs = Vec::new();
    for (k, v) in &d.attrs {
        if *k == "outputs" {
            if let Val::List(items) = v {
                outputs = items.iter().map(|i| ctx.val(i)).collect();
            }
        }
        let sv = ctx.val(v);
        env.insert((*k).to_owned(), sv);
    }
    let args = d
        .args
        .iter()
        .map(|parts| parts.iter().map(|p| ctx.part(p)).collect())
        .collect();
    let fixed_output = env.get("outputHash").map(|h| FixedOutputSpec {
        hash: h.clone(),
        algo: env.get("outputHashAlgo").cloned(),
        mode: env.get("outputHashMode").cloned(),
    });
    let spec = DerivationSpec {
        name: env["name"].clone(),
        system: env["system"].clone(),
        builder: env["builder"].clone(),
        args,
        env,
        outputs,
        fixed_output,
        input_srcs: ctx.srcs,
        input_drvs: ctx.drvs,
    };
    let built = cache
        .derivation_strict(sd, spec, &mut |p| {
            Err(ox_store::DerivationError::UnknownInput(p.to_string()))
        })
        .expect("derivation");
    Ours { built }
}

/// Evaluates all derivations with both implementations and compares
/// drvPath, every outPath and the `.drv` text.
fn compare_derivations(drvs: &[TestDrv]) {
    let sd = StoreDir::default();
    let mut cache = DrvHashCache::new();
    let mut ours: Vec<Ours> = Vec::new();
    for d in drvs {
        let o = build_ours(&sd, &mut cache, &ours, d);
        ours.push(o);
    }

    let mut expr = String::from("let\n");
    for (i, d) in drvs.iter().enumerate() {
        expr.push_str(&format!("  d{i} = derivation {{\n"));
        for (k, v) in &d.attrs {
            expr.push_str(&format!("    {k} = {};\n", nix_val(v)));
        }
        if !d.args.is_empty() {
            let args: Vec<String> = d
                .args
                .iter()
                .map(|parts| format!("\"{}\"", parts.iter().map(nix_part).collect::<String>()))
                .collect();
            expr.push_str(&format!("    args = [ {} ];\n", args.join(" ")));
        }
        expr.push_str("  };\n");
    }
    expr.push_str("in [\n");
    let mut want = Vec::new();
    for (i, o) in ours.iter().enumerate() {
        expr.push_str(&format!("  d{i}.drvPath d{i}.outPath\n"));
        want.push(sd.print(&o.built.drv_path));
        // outPath is the first output as listed in `outputs`.
        let first = drvs[i]
            .attrs
            .iter()
            .find(|(k, _)| *k == "outputs")
            .and_then(|(_, v)| match v {
                Val::List(items) => items.first().map(|f| {
                    Ctx {
                        sd: &sd,
                        done: &[],
                        srcs: BTreeSet::new(),
                        drvs: BTreeMap::new(),
                    }
                    .val(f)
                }),
                _ => None,
            })
            .unwrap_or_else(|| "out".into());
        want.push(sd.print(&o.built.outputs[&first]));
        for (name, path) in &o.built.outputs {
            expr.push_str(&format!("  d{i}.{name}.outPath\n"));
            want.push(sd.print(path));
        }
    }
    expr.push_str("]\n");
    let got = nix_eval(&expr);
    assert_eq!(got, want, "expression:\n{expr}");

    // nix-instantiate wrote the .drv files: byte-compare and re-parse.
    for o in &ours {
        let path = sd.print(&o.built.drv_path);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        assert_eq!(o.built.aterm, text, "ATerm of {path}");
        let parsed = Derivation::parse(&sd, &text).expect("parse Nix's .drv");
        assert_eq!(parsed, o.built.drv);
        assert_eq!(parsed.to_aterm(&sd), text);
    }
}

#[test]
fn simple_derivations_match() {
    if !have_oracle() {
        return;
    }
    compare_derivations(&[
        base_drv("simple"),
        base_drv("with-args").args(vec![
            vec![Part::Lit("-c")],
            vec![Part::Lit("echo \"hi\" > $out\n\tdone\\")],
        ]),
        base_drv("values")
            .attr("t", Val::Bool(true))
            .attr("f", Val::Bool(false))
            .attr("n", Val::Null)
            .attr("i", Val::Int(-42))
            .attr(
                "l",
                Val::List(vec![s("a"), Val::Int(3), Val::Bool(true), s("b c")]),
            )
            .attr("esc", s("quote\" backslash\\ nl\n cr\r tab\t dollar$ ünï"))
            .attr("out", s("overridden")),
    ]);
}

#[test]
fn multiple_output_derivations_match() {
    if !have_oracle() {
        return;
    }
    compare_derivations(&[
        base_drv("multi").attr("outputs", strs(&["out", "dev", "lib"])),
        // Non-default first output: outPath is `lib`.
        base_drv("multi2").attr("outputs", strs(&["lib", "out"])),
        base_drv("uses-dev").attr(
            "deps",
            Val::Str(vec![
                Part::Lit("dev="),
                Part::Out(0, "dev"),
                Part::Lit(" lib="),
                Part::Out(0, "lib"),
                Part::Lit(" other="),
                Part::Out(1, "lib"),
            ]),
        ),
    ]);
}

fn fod(name: &'static str, hash: &'static str) -> TestDrv {
    base_drv(name).attr("outputHash", s(hash))
}

#[test]
fn fixed_output_derivations_match() {
    if !have_oracle() {
        return;
    }
    let sha256_of_empty = Hash::digest(HashAlgo::Sha256, b"");
    let b16: &'static str = Box::leak(sha256_of_empty.to_base16().into_boxed_str());
    let b32: &'static str = Box::leak(sha256_of_empty.to_base32().into_boxed_str());
    let sri: &'static str = Box::leak(sha256_of_empty.to_sri().into_boxed_str());
    let prefixed: &'static str = Box::leak(format!("sha256:{b32}").into_boxed_str());
    let sha1 = Hash::digest(HashAlgo::Sha1, b"sha1");
    let sha1_b32: &'static str = Box::leak(sha1.to_base32().into_boxed_str());
    let sha512 = Hash::digest(HashAlgo::Sha512, b"sha512");
    let sha512_b64: &'static str = Box::leak(sha512.to_base64().into_boxed_str());
    let md5 = Hash::digest(HashAlgo::Md5, b"md5");
    let md5_b16: &'static str = Box::leak(md5.to_base16().into_boxed_str());
    compare_derivations(&[
        fod("flat16", b16).attr("outputHashAlgo", s("sha256")),
        fod("rec-sri", sri).attr("outputHashMode", s("recursive")),
        fod("flat-prefixed", prefixed),
        fod("flat-sri", sri).attr("outputHashMode", s("flat")),
        fod("rec32", b32)
            .attr("outputHashAlgo", s("sha256"))
            .attr("outputHashMode", s("recursive")),
        fod("sha1", sha1_b32).attr("outputHashAlgo", s("sha1")),
        fod("sha1-rec", sha1_b32)
            .attr("outputHashAlgo", s("sha1"))
            .attr("outputHashMode", s("recursive")),
        fod("sha512", sha512_b64)
            .attr("outputHashAlgo", s("sha512"))
            .attr("outputHashMode", s("recursive")),
        fod("md5", md5_b16).attr("outputHashAlgo", s("md5")),
        fod("empty-hash", "").attr("outputHashAlgo", s("sha256")),
        fod("explicit-out", sri).attr("outputs", strs(&["out"])),
    ]);
}

#[test]
fn dependent_derivations_match() {
    if !have_oracle() {
        return;
    }
    let t = Scratch::new("store-deps");
    sample_tree(t.path());
    let sri = Hash::digest(HashAlgo::Sha256, b"src").to_sri();
    let sri: &'static str = Box::leak(sri.into_boxed_str());
    compare_derivations(&[
        // 0, 1: two fetchers with the same output hash, different builders.
        fod("src", sri).attr("outputHashMode", s("recursive")),
        fod("src", sri)
            .attr("outputHashMode", s("recursive"))
            .attr("builder", s("/bin/bash")),
        // 2, 3: the same consumer of each; the FOD's modulo hash makes
        // their outputs equal while their .drv paths differ.
        base_drv("consumer").attr("src", Val::Str(vec![Part::Out(0, "out")])),
        base_drv("consumer").attr("src", Val::Str(vec![Part::Out(1, "out")])),
        // 4: two levels deep, with sources of every kind.
        base_drv("top")
            .attr("outputs", strs(&["out", "doc"]))
            .attr(
                "buildInputs",
                Val::List(vec![
                    Val::Str(vec![Part::Out(2, "out")]),
                    Val::Str(vec![Part::Out(0, "out")]),
                ]),
            )
            .attr(
                "script",
                Val::Str(vec![Part::ToFile("builder.sh", "echo building\n")]),
            )
            .attr("tree", Val::Str(vec![Part::Path(t.path().join("tree"))]))
            .args(vec![
                vec![Part::Lit("-e")],
                vec![Part::ToFile("builder.sh", "echo building\n")],
                vec![Part::Out(3, "out"), Part::Lit("/bin/tool")],
            ]),
        // 5: depends on a multi-output derivation through two outputs.
        base_drv("leaf").attr(
            "x",
            Val::Str(vec![
                Part::Out(4, "doc"),
                Part::Lit(":"),
                Part::Out(4, "out"),
            ]),
        ),
    ]);
}
