//! The library entry points `ox build` for hosts uses: evaluate, then
//! `realise_value` / `realise_strings`; parallel builds honour the job
//! limit.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use ox_build::{eval_settings_for, realise_strings, realise_value};
use ox_eval::{Eval, Settings};
use ox_localstore::{BuildEvent, BuildOptions, Store, StoreConfig};
use ox_testhost::testsupport::Scratch;

fn setup(t: &Scratch) -> (Store, Eval) {
    let store = Store::open(StoreConfig::with_root(&t.join("root"), "/ox/store")).unwrap();
    let nix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nix");
    let ev = Eval::new(eval_settings_for(
        &store,
        Settings {
            search_path: vec![("ox".into(), nix.to_string_lossy().into_owned())],
            ..Settings::default()
        },
    ));
    (store, ev)
}

/// Five independent builds that each take a while; the highest number
/// running at once must equal the job limit.
fn max_parallel(jobs: usize) -> usize {
    let t = Scratch::new(&format!("build-lib-jobs{jobs}"));
    let (store, mut ev) = setup(&t);
    let v = ev
        .eval_string(
            &format!(
                "let p = import <ox/pkgs> {{}}; in map (i: p.runCommand \"sleep-${{toString i}}-{jobs}\" {{}} \"sleep 0.4; echo ${{toString i}} > $out\") [ 1 2 3 4 5 ]"
            ),
            "«test»",
            "/",
        )
        .unwrap();
    let state = Mutex::new((0usize, 0usize, 0usize));
    let sink = |e: BuildEvent| {
        let mut s = state.lock().unwrap();
        match e {
            BuildEvent::Started { .. } => {
                s.0 += 1;
                s.1 = s.1.max(s.0);
                s.2 += 1;
            }
            BuildEvent::Finished { ok, .. } => {
                assert!(ok);
                s.0 -= 1;
            }
            BuildEvent::Planned { to_build } => assert_eq!(to_build, 5),
        }
    };
    let opts = BuildOptions {
        jobs,
        events: Some(&sink),
        ..BuildOptions::default()
    };
    let r = realise_value(&store, &mut ev, v, &opts).unwrap();
    assert_eq!(r.len(), 5);
    for (i, x) in r.iter().enumerate() {
        let real = t.join("root").join(x.path.trim_start_matches('/'));
        assert_eq!(fs::read_to_string(real).unwrap(), format!("{}\n", i + 1));
    }
    let s = state.lock().unwrap();
    assert_eq!(s.2, 5);
    s.1
}

#[test]
fn job_limit_is_honoured() {
    assert_eq!(max_parallel(1), 1);
    assert_eq!(max_parallel(3), 3);
}

#[test]
fn strings_with_context_are_realised() {
    let t = Scratch::new("build-lib-strings");
    let (store, mut ev) = setup(&t);
    let v = ev
        .eval_string(
            "let p = import <ox/pkgs> {}; in \"${p.writeScriptBin \"x\" \"#!/bin/sh\"}/bin/x\"",
            "«test»",
            "/",
        )
        .unwrap();
    let r = realise_strings(&store, &mut ev, &[v], &BuildOptions::default()).unwrap();
    assert_eq!(r.len(), 1);
    let real = t
        .join("root")
        .join(r[0].path.trim_start_matches('/'))
        .join("bin/x");
    assert_eq!(fs::read_to_string(real).unwrap(), "#!/bin/sh");
    // A second realisation builds nothing.
    let v = ev
        .eval_string(
            "let p = import <ox/pkgs> {}; in p.writeScriptBin \"x\" \"#!/bin/sh\"",
            "«test»",
            "/",
        )
        .unwrap();
    let w = ox_build::wanted(&mut ev, v).unwrap();
    let (_, outcome) = ox_build::realise_wanted(&store, &ev, &w, &BuildOptions::default()).unwrap();
    assert!(outcome.built.is_empty());
}
