//! The `sops.*` module (nix/modules/security/sops.nix) as ox evaluates
//! it: `sops.placeholder.<name>` is exactly ox-sops' `placeholder(name)`
//! (one format, checked here for awkward names), sops-nix's defaults
//! (key = name, format, mode, paths, the default sops file, the host key),
//! what `system.build.oxSecrets` hands the renderer, and bad options,
//! missing keys and files that are not sops files refused by `ox build`
//! before the toplevel reaches the store.

use std::path::Path;

use ox_testhost::testsupport::{outcome, ox_command, ox_search_path, repo, Scratch};

fn ox(dir: &Path, args: &[&str]) -> (bool, String, String) {
    outcome(
        ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .args(args)
            .args(ox_search_path())
            .current_dir(dir)
            .env("OX_STORE_ROOT", dir.join("root"))
            .env("OX_STATE_DIR", dir.join("root/state")),
    )
}

const NAMES: &[&str] = &[
    "powerdns/api-key",
    "plain",
    "ünïcödé name",
    "with \"quotes\" and $dollar",
    "a/b/c/d",
];

const HOST: &str = r#"
{ lib, ... }: {
  networking.hostName = "t";
  users.users.svc = { isSystemUser = true; group = "svc"; };
  users.groups.svc = { };
  sops.defaultSopsFile = ./default.yaml;
  sops.secrets = lib.genAttrs NAMES (_: { }) // {
    "bin" = { format = "binary"; sopsFile = ./blob.bin; restartUnits = [ "a.service" ]; };
    "onhost" = { sopsFile = "/etc/ox-secrets/host.yaml"; key = ""; };
    "pw" = { neededForUsers = true; };
    "custom" = { path = "/var/lib/svc/key"; owner = "svc"; group = "svc"; mode = "0440"; reloadUnits = [ "svc.service" ]; };
  };
  sops.templates."svc.env" = { content = "K=${"$"}{config}"; };
}
"#;

fn host_module(names: &[&str]) -> String {
    let list: Vec<String> = names
        .iter()
        .map(|n| serde_json::to_string(n).unwrap().replace("${", "\\${"))
        .collect();
    HOST.replace("NAMES", &format!("[ {} ]", list.join(" ")))
}

fn eval_host(dir: &Path, attr: &str) -> serde_json::Value {
    let expr =
        format!("(import <ox/modules/eval-host.nix> {{ modules = [ ./host.nix ]; }}).{attr}");
    let (ok, out, err) = ox(dir, &["eval", "--json", "--strict", "-E", &expr]);
    assert!(ok, "eval {attr}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn setup(tag: &str) -> Scratch {
    let t = Scratch::new(&format!("sops-module-{tag}"));
    std::fs::write(t.join("host.nix"), host_module(NAMES)).unwrap();
    std::fs::write(t.join("default.yaml"), "not: read at eval time\n").unwrap();
    std::fs::write(t.join("blob.bin"), "x").unwrap();
    t
}

#[test]
fn placeholders_agree_with_ox_sops() {
    let t = setup("ph");
    let p = eval_host(t.path(), "config.sops.placeholder");
    let obj = p.as_object().expect("an attribute set");
    for n in NAMES.iter().chain(&["bin", "onhost", "pw", "custom"]) {
        assert_eq!(
            obj.get(*n).and_then(|v| v.as_str()),
            Some(ox_sops::install::placeholder(n).as_str()),
            "placeholder of {n:?}"
        );
    }
    assert_eq!(obj.len(), NAMES.len() + 4, "one per secret: {p}");
}

#[test]
fn secrets_section_defaults() {
    let t = setup("defaults");
    let s = eval_host(t.path(), "config.system.build.oxSecrets");
    let secrets = s["secrets"].as_array().unwrap();
    let by = |n: &str| {
        secrets
            .iter()
            .find(|x| x["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {s}"))
            .clone()
    };
    // sorted by name
    let names: Vec<&str> = secrets
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    let k = by("powerdns/api-key");
    assert_eq!(k["key"], "powerdns/api-key");
    assert_eq!(k["format"], "yaml");
    assert_eq!(k["mode"], "0400");
    assert!(k.get("path").is_none(), "default path: {k}");
    assert!(k.get("owner").is_none());
    let f = k["sopsFile"].as_str().unwrap();
    assert!(
        f.contains("/store/") && f.ends_with("-default.yaml"),
        "the encrypted file goes to the store: {f}"
    );
    let b = by("bin");
    assert_eq!(b["format"], "binary");
    assert!(b["sopsFile"].as_str().unwrap().ends_with("-blob.bin"));
    assert_eq!(b["restartUnits"], serde_json::json!(["a.service"]));
    let h = by("onhost");
    assert_eq!(h["sopsFile"], "/etc/ox-secrets/host.yaml");
    assert_eq!(h["key"], "");
    assert_eq!(by("pw")["neededForUsers"], true);
    let c = by("custom");
    assert_eq!(c["path"], "/var/lib/svc/key");
    assert_eq!(c["owner"], "svc");
    assert_eq!(c["mode"], "0440");
    assert_eq!(c["reloadUnits"], serde_json::json!(["svc.service"]));

    let tm = &s["templates"][0];
    assert_eq!(tm["name"], "svc.env");
    assert_eq!(tm["mode"], "0400");
    assert_eq!(s["symlinkPath"], "/run/secrets");
    assert_eq!(s["secretsMountPoint"], "/run/secrets.d");
    assert_eq!(
        s["sshKeyPaths"],
        serde_json::json!(["/etc/ssh/ssh_host_ed25519_key"])
    );
    // the rendered path of a template and a secret's path, as modules read them
    let p = eval_host(
        t.path(),
        "config.sops.templates.\"svc.env\".path + \" \" + (import <ox/modules/eval-host.nix> { modules = [ ./host.nix ]; }).config.sops.secrets.pw.path",
    );
    assert_eq!(p, "/run/secrets/rendered/svc.env /run/secrets-for-users/pw");

    // a host without sops options keeps the plain `[]`
    std::fs::write(
        t.join("host.nix"),
        "{ ... }: { networking.hostName = \"t\"; }",
    )
    .unwrap();
    assert_eq!(
        eval_host(t.path(), "config.system.build.oxSecrets"),
        serde_json::json!([])
    );
}

#[test]
fn bad_options_fail_the_build_before_the_store() {
    let t = Scratch::new("sops-module-bad");
    std::fs::write(t.join("default.yaml"), "x: y\n").unwrap();
    // a real sops file (the example fleet's): keys are checked without a key
    std::fs::copy(
        repo().join("examples/homelab/secrets/dns.yaml"),
        t.join("dns.yaml"),
    )
    .unwrap();
    for (module, want) in [
        (
            "sops.secrets.\"powerdns/nope\" = { sopsFile = ./dns.yaml; };",
            "key 'powerdns/nope' not found",
        ),
        (
            "sops.secrets.a = { sopsFile = ./default.yaml; };",
            "is not a sops yaml file",
        ),
        (
            "sops.secrets.a = { sopsFile = ./default.yaml; mode = \"rw\"; };",
            "sops.secrets.\"a\".mode",
        ),
        (
            "sops.secrets.\"rendered/x\" = { sopsFile = ./default.yaml; };",
            "rendered",
        ),
        ("sops.secrets.a = { };", "no sops file"),
        (
            "sops.secrets.a = { sopsFile = ./default.yaml; format = \"toml\"; };",
            "format",
        ),
    ] {
        std::fs::write(
            t.join("hosts.nix"),
            format!(
                "{{ t = import <ox/modules/eval-host.nix> {{ modules = [ {{ networking.hostName = \"t\"; {module} }} ]; }}; }}"
            ),
        )
        .unwrap();
        let (ok, _, err) = ox(
            t.path(),
            &["build", "hosts.nix", "--host", "t", "--no-out-link"],
        );
        assert!(!ok, "{module} was accepted");
        assert!(err.contains(want), "{module}: missing {want:?} in\n{err}");
        let store = t.join("root/ox/store");
        let tops = std::fs::read_dir(&store)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("-ox-system-t"))
            .count();
        assert_eq!(tops, 0, "{module}: a toplevel reached the store");
    }
}
