//! `ox secrets` end to end, against the real sops, age and ssh-keygen
//! (scripts/deps installs them).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ox(dir: &Path, key: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ox"))
        .arg("secrets")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("SOPS_AGE_KEY_FILE", key)
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env_remove("SOPS_AGE_KEY")
        .output()
        .unwrap()
}

fn ok(o: Output) -> Vec<u8> {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn sops(dir: &Path, key: &Path, args: &[&str]) -> Vec<u8> {
    ok(Command::new("sops")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("SOPS_AGE_KEY_FILE", key)
        .env_remove("SOPS_AGE_RECIPIENTS")
        .output()
        .expect("sops on PATH (scripts/deps)"))
}

struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let o = ox(dir.path(), &key, &["keygen", "-o", key.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // the public key ox reports is the one age-keygen derives
    let public = ok(Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap());
    let recipient = String::from_utf8(public).unwrap().trim().to_string();
    assert!(String::from_utf8_lossy(&o.stderr).contains(&recipient));
    Setup {
        dir,
        key,
        recipient,
    }
}

fn encrypted(s: &Setup, name: &str, text: &str) -> PathBuf {
    let p = s.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    ok(ox(
        s.dir.path(),
        &s.key,
        &["encrypt", "-i", "--age", &s.recipient, name],
    ));
    p
}

#[test]
fn encrypt_decrypt_extract() {
    let s = setup();
    let p = encrypted(&s, "s.yaml", "db:\n    password: pw-1\n    port: 5432\n");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(!text.contains("pw-1") && text.contains("ENC[AES256_GCM"));
    assert_eq!(
        sops(
            s.dir.path(),
            &s.key,
            &["decrypt", "--extract", r#"["db"]["password"]"#, "s.yaml"]
        ),
        b"pw-1"
    );
    let o = ok(ox(
        s.dir.path(),
        &s.key,
        &["decrypt", "--extract", r#"["db"]["port"]"#, "s.yaml"],
    ));
    assert_eq!(o, b"5432");
    let o = ok(ox(s.dir.path(), &s.key, &["decrypt", "s.yaml"]));
    assert_eq!(o, b"db:\n    password: pw-1\n    port: 5432\n");
    // a missing key is an error naming the path
    let o = ox(
        s.dir.path(),
        &s.key,
        &["decrypt", "--extract", r#"["db"]["nope"]"#, "s.yaml"],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(r#"["db"]["nope"]"#));
}

#[test]
fn ssh_to_age_matches_the_private_key() {
    let s = setup();
    let k = s.dir.path().join("host_ed25519");
    ox_testhost::testsupport::ssh_keygen(&k);
    let pubkey = k.with_extension("pub");
    let recipient = ok(ox(
        s.dir.path(),
        &s.key,
        &["ssh-to-age", "-i", pubkey.to_str().unwrap()],
    ));
    let recipient = String::from_utf8(recipient).unwrap().trim().to_string();
    // an ssh-keyscan style line (host first) with an rsa line before it
    let scan = s.dir.path().join("scan.txt");
    let pubtext = std::fs::read_to_string(&pubkey).unwrap();
    std::fs::write(&scan, format!("host ssh-rsa AAAAB3Nza\nhost {pubtext}")).unwrap();
    let from_scan = ok(ox(
        s.dir.path(),
        &s.key,
        &["ssh-to-age", "-i", scan.to_str().unwrap()],
    ));
    assert_eq!(String::from_utf8(from_scan).unwrap().trim(), recipient);
    let sk = ok(ox(
        s.dir.path(),
        &s.key,
        &["ssh-to-age", "--private-key", "-i", k.to_str().unwrap()],
    ));
    let skp = s.dir.path().join("converted.txt");
    std::fs::write(&skp, &sk).unwrap();
    // age-keygen derives the same recipient from the converted secret
    let derived = ok(Command::new("age-keygen")
        .arg("-y")
        .arg(&skp)
        .output()
        .unwrap());
    assert_eq!(String::from_utf8(derived).unwrap().trim(), recipient);
    // encrypt to the converted recipient; decrypt with the ssh key as identity
    let p = s.dir.path().join("h.yaml");
    std::fs::write(&p, "k: v-secret\n").unwrap();
    ok(ox(
        s.dir.path(),
        &s.key,
        &["encrypt", "-i", "--age", &recipient, "h.yaml"],
    ));
    let empty = s.dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let o = ok(ox(
        s.dir.path(),
        &empty,
        &["decrypt", "--identity", k.to_str().unwrap(), "h.yaml"],
    ));
    assert_eq!(o, b"k: v-secret\n");
}

/// An $EDITOR script that records where and how it found the plaintext.
fn editor(s: &Setup, body: &str) -> PathBuf {
    let p = s.dir.path().join("editor.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nset -e\necho \"$1\" > {log}/path\nstat -c %a \"$1\" > {log}/mode\nstat -f -c %T \"$1\" > {log}/fstype\n{body}\n",
            log = s.dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn edit_cmd(s: &Setup, ed: &Path, file: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ox"));
    c.args(["secrets", "edit", file])
        .current_dir(s.dir.path())
        .env("HOME", s.dir.path())
        .env("SOPS_AGE_KEY_FILE", &s.key)
        .env("EDITOR", ed);
    c
}

fn plaintext_gone(s: &Setup) {
    let path = std::fs::read_to_string(s.dir.path().join("path")).unwrap();
    let path = Path::new(path.trim());
    assert!(!path.exists(), "plaintext {} left behind", path.display());
    assert!(!path.parent().unwrap().exists());
    assert_eq!(
        std::fs::read_to_string(s.dir.path().join("mode"))
            .unwrap()
            .trim(),
        "600"
    );
    let fs = std::fs::read_to_string(s.dir.path().join("fstype")).unwrap();
    assert!(fs.trim() == "tmpfs" || fs.trim() == "ramfs", "{fs}");
}

#[test]
fn edit_changes_and_reencrypts() {
    let s = setup();
    let p = encrypted(&s, "e.yaml", "a: one\nb: keep\n");
    let before = std::fs::read_to_string(&p).unwrap();
    let ed = editor(&s, "sed -i 's/one/two/' \"$1\"");
    let o = edit_cmd(&s, &ed, "e.yaml").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    plaintext_gone(&s);
    assert_eq!(
        sops(s.dir.path(), &s.key, &["decrypt", "e.yaml"]),
        b"a: two\nb: keep\n"
    );
    // the unchanged value kept its ciphertext (IV stash)
    let after = std::fs::read_to_string(&p).unwrap();
    let line = |t: &str| t.lines().find(|l| l.starts_with("b:")).unwrap().to_string();
    assert_eq!(line(&before), line(&after));
}

#[test]
fn edit_without_change_leaves_file_alone() {
    let s = setup();
    let p = encrypted(&s, "u.yaml", "a: one\n");
    let before = std::fs::read(&p).unwrap();
    let ed = editor(&s, "true");
    let o = edit_cmd(&s, &ed, "u.yaml").output().unwrap();
    assert!(o.status.success());
    plaintext_gone(&s);
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn edit_failing_editor_removes_plaintext() {
    let s = setup();
    let p = encrypted(&s, "f.yaml", "a: one\n");
    let before = std::fs::read(&p).unwrap();
    let ed = editor(&s, "sed -i 's/one/two/' \"$1\"; exit 3");
    let o = edit_cmd(&s, &ed, "f.yaml").output().unwrap();
    assert!(!o.status.success());
    plaintext_gone(&s);
    assert_eq!(std::fs::read(&p).unwrap(), before);
    // an edit that breaks the YAML is refused, plaintext removed too
    let ed = editor(&s, "printf 'a: [unclosed\\n' > \"$1\"");
    let o = edit_cmd(&s, &ed, "f.yaml").output().unwrap();
    assert!(!o.status.success());
    plaintext_gone(&s);
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn edit_interrupted_by_ctrl_c_removes_plaintext() {
    let s = setup();
    let p = encrypted(&s, "c.yaml", "a: one\n");
    let before = std::fs::read(&p).unwrap();
    // like a terminal's Ctrl-C: SIGINT to the whole process group
    let ed = editor(&s, "sed -i 's/one/two/' \"$1\"; kill -INT 0; sleep 5");
    let mut cmd = edit_cmd(&s, &ed, "c.yaml");
    cmd.process_group(0);
    let o = cmd.output().unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    plaintext_gone(&s);
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn updatekeys_and_rotate_via_sops_yaml() {
    let s = setup();
    let key2 = s.dir.path().join("key2.txt");
    ok(ox(
        s.dir.path(),
        &s.key,
        &["keygen", "-o", key2.to_str().unwrap()],
    ));
    let r2 = String::from_utf8(ok(Command::new("age-keygen")
        .arg("-y")
        .arg(&key2)
        .output()
        .unwrap()))
    .unwrap();
    let r2 = r2.trim();
    std::fs::write(
        s.dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {}\n",
            s.recipient
        ),
    )
    .unwrap();
    let p = s.dir.path().join("u.yaml");
    std::fs::write(&p, "x: 1\n").unwrap();
    ok(ox(s.dir.path(), &s.key, &["encrypt", "-i", "u.yaml"]));
    // key2 cannot read it yet
    let o = ox(s.dir.path(), &key2, &["decrypt", "u.yaml"]);
    assert!(!o.status.success());
    std::fs::write(
        s.dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {}, {r2}\n",
            s.recipient
        ),
    )
    .unwrap();
    ok(ox(s.dir.path(), &s.key, &["updatekeys", "-y", "u.yaml"]));
    assert_eq!(sops(s.dir.path(), &key2, &["decrypt", "u.yaml"]), b"x: 1\n");
    // rotate out the first key
    ok(ox(
        s.dir.path(),
        &s.key,
        &["rotate", "-i", "--rm-age", &s.recipient, "u.yaml"],
    ));
    assert_eq!(sops(s.dir.path(), &key2, &["decrypt", "u.yaml"]), b"x: 1\n");
    assert!(!ox(s.dir.path(), &s.key, &["decrypt", "u.yaml"])
        .status
        .success());
}

#[test]
fn install_from_manifest() {
    let s = setup();
    encrypted(&s, "host.yaml", "powerdns:\n    api-key: k-9931\n");
    let run = tempfile::Builder::new()
        .prefix("ox-secrets-cli")
        .tempdir_in("/dev/shm")
        .unwrap();
    let manifest = s.dir.path().join("manifest.json");
    let ph = {
        use std::fmt::Write;
        // sha256("powerdns/api-key") via sha256sum, independent of ox
        let o = Command::new("sh")
            .arg("-c")
            .arg("printf %s powerdns/api-key | sha256sum")
            .output()
            .unwrap();
        let mut p = String::new();
        write!(
            p,
            "<SOPS:{}:PLACEHOLDER>",
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .unwrap()
        )
        .unwrap();
        p
    };
    std::fs::write(
        &manifest,
        serde_json::json!({
            "secrets": [{"name": "powerdns/api-key", "sopsFile": s.dir.path().join("host.yaml"),
                         "restartUnits": ["pdns.service"]}],
            "templates": [{"name": "pdns.env", "content": format!("PDNS_API_KEY={ph}\n"), "mode": "0400"}],
            "secretsMountPoint": run.path().join("secrets.d"),
            "symlinkPath": run.path().join("secrets"),
            "sshKeyPaths": [],
            "ageKeyFile": s.key,
            "useTmpfs": false
        })
        .to_string(),
    )
    .unwrap();
    ok(ox(
        s.dir.path(),
        &s.key,
        &["install", "--check", manifest.to_str().unwrap()],
    ));
    let o = ok(ox(
        s.dir.path(),
        &s.key,
        &["install", "--dry-run", "--json", manifest.to_str().unwrap()],
    ));
    let report: serde_json::Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(report[0]["added"].as_array().unwrap().len(), 2);
    assert!(!run.path().join("secrets").exists(), "--dry-run wrote");
    let o = ox(
        s.dir.path(),
        &s.key,
        &["install", "--json", manifest.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let out = ok(o);
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        report[0]["restartUnits"],
        serde_json::json!(["pdns.service"])
    );
    assert_eq!(
        std::fs::read_to_string(run.path().join("secrets/rendered/pdns.env")).unwrap(),
        "PDNS_API_KEY=k-9931\n"
    );
    // nothing ox printed contains the value
    assert!(!String::from_utf8_lossy(&out).contains("k-9931") && !stderr.contains("k-9931"));
}

#[test]
fn encrypt_rule_flags() {
    let s = setup();
    let p = s.dir.path().join("k.yaml");
    std::fs::write(&p, "data:\n    pw: hidden-1\nmeta: shown-1\n").unwrap();
    let out = ok(ox(
        s.dir.path(),
        &s.key,
        &[
            "encrypt",
            "--age",
            &s.recipient,
            "--encrypted-regex",
            "^data$",
            "--mac-only-encrypted",
            "k.yaml",
        ],
    ));
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("meta: shown-1") && !text.contains("hidden-1"),
        "{text}"
    );
    assert!(text.contains("encrypted_regex: ^data$") && text.contains("mac_only_encrypted: true"));
    std::fs::write(&p, &text).unwrap();
    assert_eq!(
        sops(s.dir.path(), &s.key, &["decrypt", "k.yaml"]),
        b"data:\n    pw: hidden-1\nmeta: shown-1\n"
    );
    let o = ox(
        s.dir.path(),
        &s.key,
        &[
            "encrypt",
            "--age",
            &s.recipient,
            "--encrypted-regex",
            "a",
            "--unencrypted-suffix",
            "_u",
            "k.yaml",
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most one"));
    // encrypting an encrypted file is refused
    let o = ox(
        s.dir.path(),
        &s.key,
        &["encrypt", "--age", &s.recipient, "k.yaml"],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("already encrypted"));
}

#[test]
fn edit_creates_a_new_file_from_sops_yaml() {
    let s = setup();
    std::fs::write(
        s.dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {}\n", s.recipient),
    )
    .unwrap();
    let ed = editor(&s, "printf 'new: value-77\\n' > \"$1\"");
    let o = edit_cmd(&s, &ed, "new.yaml").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    plaintext_gone(&s);
    let text = std::fs::read_to_string(s.dir.path().join("new.yaml")).unwrap();
    assert!(!text.contains("value-77"));
    assert_eq!(
        sops(s.dir.path(), &s.key, &["decrypt", "new.yaml"]),
        b"new: value-77\n"
    );
    // an editor that writes nothing creates nothing
    let ed = editor(&s, "true");
    let o = edit_cmd(&s, &ed, "none.yaml").output().unwrap();
    assert!(o.status.success());
    assert!(!s.dir.path().join("none.yaml").exists());
}

#[test]
fn key_from_command_and_env() {
    let s = setup();
    encrypted(&s, "c.yaml", "a: from-cmd\n");
    let empty = s.dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let run = |var: &str, val: String| {
        Command::new(env!("CARGO_BIN_EXE_ox"))
            .args(["secrets", "decrypt", "c.yaml"])
            .current_dir(s.dir.path())
            .env("HOME", s.dir.path())
            .env("SOPS_AGE_KEY_FILE", &empty)
            .env(var, val)
            .output()
            .unwrap()
    };
    let o = run("SOPS_AGE_KEY_CMD", format!("cat {}", s.key.display()));
    assert_eq!(ok(o), b"a: from-cmd\n");
    let o = run("SOPS_AGE_KEY", std::fs::read_to_string(&s.key).unwrap());
    assert_eq!(ok(o), b"a: from-cmd\n");
    let o = run("SOPS_AGE_KEY_CMD", "exit 4".into());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOPS_AGE_KEY_CMD failed"));
}

/// The placeholder form documented for the module system, computed by
/// ox's own evaluator, is the string `install` substitutes.
#[test]
fn placeholder_from_nix_matches_install() {
    let name = "powerdns/api-key";
    let o = Command::new(env!("CARGO_BIN_EXE_ox"))
        .args([
            "eval",
            "-E",
            &format!(r#""<SOPS:${{builtins.hashString "sha256" "{name}"}}:PLACEHOLDER>""#),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(ok(o)).unwrap();
    assert_eq!(
        out.trim(),
        format!("\"{}\"", ox_sops::install::placeholder(name))
    );
}

#[test]
fn plain_age_files_via_cli() {
    let s = setup();
    let k = s.dir.path().join("id_ed25519");
    ox_testhost::testsupport::ssh_keygen(&k);
    let ssh_pub = std::fs::read_to_string(k.with_extension("pub")).unwrap();
    let msg = s.dir.path().join("msg.bin");
    std::fs::write(&msg, b"agenix-style \x00 payload").unwrap();
    for (r, id) in [
        (s.recipient.clone(), s.key.clone()),
        (ssh_pub.trim().to_string(), k.clone()),
    ] {
        // ox encrypts, age decrypts
        let enc = ok(ox(
            s.dir.path(),
            &s.key,
            &["age-encrypt", "-a", "-r", &r, msg.to_str().unwrap()],
        ));
        let ep = s.dir.path().join("m.age");
        std::fs::write(&ep, &enc).unwrap();
        let out = ok(Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&id)
            .arg(&ep)
            .output()
            .unwrap());
        assert_eq!(out, std::fs::read(&msg).unwrap());
        // age encrypts, ox decrypts
        let out = ok(Command::new("age")
            .args(["-r", &r, "-o"])
            .arg(&ep)
            .arg(&msg)
            .output()
            .unwrap());
        assert!(out.is_empty());
        let dec = ok(ox(
            s.dir.path(),
            &s.key,
            &[
                "age-decrypt",
                "--identity",
                id.to_str().unwrap(),
                ep.to_str().unwrap(),
            ],
        ));
        assert_eq!(dec, std::fs::read(&msg).unwrap());
    }
}

#[test]
fn set_and_unset() {
    let s = setup();
    let p = encrypted(
        &s,
        "s.yaml",
        "db:\n    user: u\n    password: old-pw\nkeep: k\n",
    );
    let before = std::fs::read_to_string(&p).unwrap();
    ok(ox(
        s.dir.path(),
        &s.key,
        &["set", "s.yaml", r#"["db"]["password"]"#, r#""new-pw""#],
    ));
    ok(ox(
        s.dir.path(),
        &s.key,
        &["set", "s.yaml", r#"["new"]["num"]"#, "5"],
    ));
    assert_eq!(
        sops(s.dir.path(), &s.key, &["decrypt", "s.yaml"]),
        b"db:\n    user: u\n    password: new-pw\nkeep: k\nnew:\n    num: 5\n"
    );
    // untouched values keep their ciphertext
    let after = std::fs::read_to_string(&p).unwrap();
    let line = |t: &str, k: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with(k))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&before, "keep:"), line(&after, "keep:"));
    assert_eq!(line(&before, "user:"), line(&after, "user:"));
    ok(ox(
        s.dir.path(),
        &s.key,
        &["unset", "s.yaml", r#"["db"]["user"]"#],
    ));
    assert_eq!(
        sops(s.dir.path(), &s.key, &["decrypt", "s.yaml"]),
        b"db:\n    password: new-pw\nkeep: k\nnew:\n    num: 5\n"
    );
    // a non-JSON value is refused without echoing it
    let o = ox(
        s.dir.path(),
        &s.key,
        &["set", "s.yaml", r#"["x"]"#, "not-json-secret"],
    );
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("not-json-secret"));
}

#[test]
fn exec_env_passes_values_to_the_child_only() {
    let s = setup();
    encrypted(&s, "e.env", "API_TOKEN=tok-55\nOTHER=x\n");
    let o = ox(
        s.dir.path(),
        &s.key,
        &[
            "exec-env",
            "e.env",
            "printf '%s/%s' \"$API_TOKEN\" \"$OTHER\"; exit 7",
        ],
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(o.stdout, b"tok-55/x");
}
