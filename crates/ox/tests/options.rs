//! `ox options` and the embedded `<ox>` search path, end to end.

use std::path::Path;

use ox_testhost::testsupport::{outcome, ox_command, repo, Scratch};

fn ox(args: &[&str], cache: &Path) -> (bool, String, String) {
    outcome(
        ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .args(args)
            .env("XDG_CACHE_HOME", cache),
    )
}

fn tmp(name: &str) -> Scratch {
    Scratch::new(&format!("options-test-{name}"))
}

#[test]
fn options_json_lists_visible_options_and_sub_options() {
    let cache = tmp("json");
    let f = repo().join("tests/options/services.nix");
    let (ok, out, err) = ox(&["options", f.to_str().unwrap()], &cache);
    assert!(ok, "{}", err);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let port = &v["services.<name>.port"];
    assert_eq!(
        port["type"],
        "16 bit unsigned integer; between 0 and 65535 (both inclusive)"
    );
    assert_eq!(port["default"]["text"], "80");
    assert_eq!(
        v["ox.samba.enable"]["description"],
        "Whether to enable samba."
    );
    assert!(
        v.get("ox.hidden").is_none(),
        "internal options are not documented"
    );
    assert!(v.get("_module.args").is_none());
}

#[test]
fn options_markdown() {
    let cache = tmp("md");
    let f = repo().join("tests/options/services.nix");
    let (ok, out, err) = ox(&["options", "--markdown", f.to_str().unwrap()], &cache);
    assert!(ok, "{}", err);
    assert!(
        out.contains("## `services.<name>.port`\n\nPort.\n\n*Type:* 16 bit"),
        "{}",
        out
    );
    assert!(out.contains("*Example:* `{ web.port = 8080; }`"), "{}", out);
}

#[test]
fn ox_lib_is_on_the_search_path_without_flags() {
    // No -I: `<ox/lib>` comes from the copy embedded in the binary,
    // written once into the cache directory.
    let cache = tmp("embedded");
    let (ok, out, err) = ox(
        &[
            "eval",
            "-E",
            "(import <ox/lib>).concatStringsSep \",\" [ \"a\" \"b\" ]",
        ],
        &cache,
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"a,b\"");
    let entries: Vec<_> = std::fs::read_dir(cache.join("ox"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries.len(), 1, "{:?}", entries);
    assert!(entries[0].to_string_lossy().starts_with("nix-"));
    // -I ox=… overrides the embedded copy
    let alt = tmp("alt");
    std::fs::create_dir_all(alt.join("lib")).unwrap();
    std::fs::write(alt.join("lib/default.nix"), "\"override\"").unwrap();
    let inc = format!("ox={}", alt.display());
    let (ok, out, err) = ox(&["eval", "-I", &inc, "-E", "import <ox/lib>"], &cache);
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"override\"");
}
