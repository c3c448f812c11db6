//! Interop with the real `sops` and `age` binaries (installed by
//! scripts/deps): files sops encrypts, ox decrypts to identical values;
//! files ox encrypts, `sops -d` decrypts with MAC checking.

use std::path::{Path, PathBuf};
use std::process::Command;

use ox_sops::{Format, Identities};

mod common;
use common::norm;

struct Keys {
    dir: tempfile::TempDir,
    age_file: PathBuf,
    recipient: String,
}

fn need(bin: &str) {
    let ok = Command::new(bin).arg("--help").output().is_ok();
    assert!(ok, "{bin} is not on PATH: run scripts/deps");
}

fn keys() -> Keys {
    need("sops");
    need("age-keygen");
    let dir = tempfile::tempdir().unwrap();
    let age_file = dir.path().join("keys.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&age_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&age_file).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    Keys {
        dir,
        age_file,
        recipient,
    }
}

impl Keys {
    fn ids(&self) -> Identities {
        let mut ids = Identities::new();
        ids.add_age_key_file(&self.age_file).unwrap();
        ids
    }

    /// Run sops with only our key reachable (HOME points at the temp dir
    /// so it does not probe the real ~/.ssh).
    fn sops(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("sops")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("SOPS_AGE_KEY_FILE", &self.age_file)
            .env("SOPS_AGE_RECIPIENTS", &self.recipient)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn copy(&self, name: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        let dst = self.dir.path().join(name);
        std::fs::copy(src, &dst).unwrap();
        dst
    }
}

fn sops_encrypts_ox_decrypts(name: &str) {
    let k = keys();
    let p = k.copy(name);
    let fmt = Format::from_path(&p);
    let enc = k.sops(&["encrypt", p.to_str().unwrap()]);
    let encp = k.dir.path().join(format!("enc.{name}"));
    std::fs::write(&encp, &enc).unwrap();
    let d = ox_sops::decrypt_file(&encp, None, &k.ids()).unwrap();
    // sops' own decryption, parsed by our loader, must give the same tree
    let plain = k.sops(&["decrypt", encp.to_str().unwrap()]);
    let theirs = ox_sops::store::load_plain(fmt, &plain).unwrap();
    assert_eq!(
        norm(&d.branches),
        norm(&theirs),
        "{name}: ox and sops disagree"
    );
    // and re-emitting ours is parsed back to the same values
    let ours = ox_sops::store::load_plain(fmt, &d.plaintext().unwrap()).unwrap();
    assert_eq!(
        norm(&ours),
        norm(&theirs),
        "{name}: our plaintext output differs"
    );
}

fn ox_encrypts_sops_decrypts(name: &str) {
    let k = keys();
    let p = k.copy(name);
    let fmt = Format::from_path(&p);
    let plain = std::fs::read(&p).unwrap();
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![vec![k.recipient.clone()]],
        ..Default::default()
    };
    let enc = ox_sops::encrypt(&plain, fmt, &opts).unwrap();
    let encp = k.dir.path().join(format!("ox.{name}"));
    std::fs::write(&encp, &enc).unwrap();
    // `sops decrypt` checks the MAC
    let theirs = k.sops(&["decrypt", encp.to_str().unwrap()]);
    let theirs = ox_sops::store::load_plain(fmt, &theirs).unwrap();
    let orig = ox_sops::store::load_plain(fmt, &plain).unwrap();
    assert_eq!(
        norm(&theirs),
        norm(&orig),
        "{name}: sops decrypts ox's file differently"
    );
    // and ox reads its own output back
    let d = ox_sops::decrypt(&enc, fmt, &k.ids(), false).unwrap();
    assert_eq!(d.branches, orig);
}

#[test]
fn yaml_sops_to_ox() {
    sops_encrypts_ox_decrypts("sample.yaml");
}
#[test]
fn yaml_ox_to_sops() {
    ox_encrypts_sops_decrypts("sample.yaml");
}
#[test]
fn multidoc_sops_to_ox() {
    sops_encrypts_ox_decrypts("multidoc.yaml");
}
#[test]
fn multidoc_ox_to_sops() {
    ox_encrypts_sops_decrypts("multidoc.yaml");
}
#[test]
fn json_sops_to_ox() {
    sops_encrypts_ox_decrypts("sample.json");
}
#[test]
fn json_ox_to_sops() {
    ox_encrypts_sops_decrypts("sample.json");
}
#[test]
fn dotenv_sops_to_ox() {
    sops_encrypts_ox_decrypts("sample.env");
}
#[test]
fn dotenv_ox_to_sops() {
    ox_encrypts_sops_decrypts("sample.env");
}
#[test]
fn ini_sops_to_ox() {
    sops_encrypts_ox_decrypts("sample.ini");
}
#[test]
fn ini_ox_to_sops() {
    ox_encrypts_sops_decrypts("sample.ini");
}

#[test]
fn binary_both_ways() {
    let k = keys();
    let raw: Vec<u8> = (0u8..=255)
        .chain(b"\x00\xff tail".iter().copied())
        .collect();
    let p = k.dir.path().join("blob.bin");
    std::fs::write(&p, &raw).unwrap();
    let enc = k.sops(&["encrypt", p.to_str().unwrap()]);
    let d = ox_sops::decrypt(&enc, Format::Binary, &k.ids(), false).unwrap();
    assert_eq!(d.plaintext().unwrap(), raw);
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![vec![k.recipient.clone()]],
        ..Default::default()
    };
    let ours = ox_sops::encrypt(&raw, Format::Binary, &opts).unwrap();
    let op = k.dir.path().join("ox.bin");
    std::fs::write(&op, ours).unwrap();
    assert_eq!(k.sops(&["decrypt", op.to_str().unwrap()]), raw);
}

#[test]
fn tampered_file_is_refused() {
    let k = keys();
    let p = k.copy("sample.yaml");
    let enc = String::from_utf8(k.sops(&["encrypt", p.to_str().unwrap()])).unwrap();
    // an unencrypted value changed by hand: the MAC no longer matches
    let t = enc.replace("plain_unencrypted: visible", "plain_unencrypted: changed");
    assert_ne!(t, enc);
    let e = ox_sops::decrypt(t.as_bytes(), Format::Yaml, &k.ids(), false)
        .err()
        .expect("tampered file must be refused");
    assert!(matches!(e, ox_sops::Error::MacMismatch(_)), "{e}");
    assert!(e.to_string().contains("MAC mismatch"), "{e}");
    // with --ignore-mac semantics it opens
    assert!(ox_sops::decrypt(t.as_bytes(), Format::Yaml, &k.ids(), true).is_ok());
    // two encrypted values swapped: each fails its AAD check
    let lines: Vec<&str> = enc.lines().collect();
    let user = lines
        .iter()
        .position(|l| l.trim_start().starts_with("user:"))
        .unwrap();
    let pass = lines
        .iter()
        .position(|l| l.trim_start().starts_with("password:"))
        .unwrap();
    let mut swapped: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    swapped[user] = lines[user].replace("user:", "password:");
    swapped[pass] = lines[pass].replace("password:", "user:");
    let e = ox_sops::decrypt(swapped.join("\n").as_bytes(), Format::Yaml, &k.ids(), false)
        .err()
        .expect("moved values must not decrypt");
    assert!(e.to_string().contains("db:"), "{e}");
    // no plaintext leaks into the messages
    assert!(!e.to_string().contains("s3cr3t"));
    assert!(!e.to_string().contains("admin"));
}

#[test]
fn wrong_key_is_a_clear_error() {
    let k = keys();
    let other = keys();
    let p = k.copy("sample.yaml");
    let enc = k.sops(&["encrypt", p.to_str().unwrap()]);
    let e = ox_sops::decrypt(&enc, Format::Yaml, &other.ids(), false)
        .err()
        .unwrap();
    assert!(matches!(e, ox_sops::Error::NoKey(_)), "{e}");
    assert!(e.to_string().contains(&k.recipient), "{e}");
}

fn ssh_keygen(dir: &Path, typ: &str) -> (PathBuf, String) {
    let p = dir.join(format!("id_{typ}"));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", typ, "-N", "", "-C", "test", "-f"])
        .arg(&p);
    if typ == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    assert!(cmd.status().unwrap().success());
    let public = std::fs::read_to_string(p.with_extension("pub")).unwrap();
    // sops keeps `type base64` (comment dropped)
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (p, public)
}

/// sops encrypts `file` to `recipient` alone; ox decrypts the result
/// with the ssh private key at `private`.
fn sops_encrypt_then_ox_decrypt(
    k: &Keys,
    recipient: &str,
    file: &Path,
    private: &Path,
) -> ox_sops::Decrypted {
    let out = Command::new("sops")
        .args(["encrypt", "--age", recipient, file.to_str().unwrap()])
        .env("HOME", k.dir.path())
        .env_remove("SOPS_AGE_RECIPIENTS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids = Identities::new();
    ids.add_ssh_key_file(private).unwrap();
    ox_sops::decrypt(&out.stdout, Format::Yaml, &ids, false).unwrap()
}

fn sops_to_ssh_recipient(typ: &str) {
    let k = keys();
    let (private, public) = ssh_keygen(k.dir.path(), typ);
    let p = k.copy("sample.yaml");
    let d = sops_encrypt_then_ox_decrypt(&k, &public, &p, &private);
    assert_eq!(
        d.extract(&ox_sops::parse_extract(r#"["db"]["password"]"#).unwrap())
            .unwrap()
            .as_str(),
        Some("s3cr3t-Pa55")
    );
    // and the other way: ox encrypts to the ssh key, sops opens it with it
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![vec![public.clone()]],
        ..Default::default()
    };
    let enc = ox_sops::encrypt(&std::fs::read(&p).unwrap(), Format::Yaml, &opts).unwrap();
    let op = k.dir.path().join("ox-ssh.yaml");
    std::fs::write(&op, enc).unwrap();
    let out = Command::new("sops")
        .args([
            "decrypt",
            "--extract",
            r#"["db"]["password"]"#,
            op.to_str().unwrap(),
        ])
        .env("HOME", k.dir.path())
        .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &private)
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"s3cr3t-Pa55");
}

#[test]
fn ssh_ed25519_recipient() {
    sops_to_ssh_recipient("ed25519");
}

#[test]
fn ssh_rsa_recipient() {
    sops_to_ssh_recipient("rsa");
}

#[test]
fn host_key_converted_to_age_recipient() {
    // the sops-nix flow: encrypt to ssh-to-age(host.pub), decrypt with
    // the host's private ssh key as identity
    let k = keys();
    let (private, public) = ssh_keygen(k.dir.path(), "ed25519");
    let recipient = ox_sops::ssh_to_age(&public).unwrap();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let p = k.copy("sample.yaml");
    let d = sops_encrypt_then_ox_decrypt(&k, &recipient, &p, &private);
    assert_eq!(
        d.extract(&ox_sops::parse_extract(r#"["db"]["user"]"#).unwrap())
            .unwrap()
            .as_str(),
        Some("admin")
    );
    // the converted secret key matches the converted public key
    let sk = ox_sops::keys::ssh_private_to_age(&std::fs::read(&private).unwrap()).unwrap();
    assert_eq!(ox_sops::keys::age_public(&sk).unwrap(), recipient);
}

fn age_cli(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("age")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("age on PATH (scripts/deps)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn plain_age_files_both_ways() {
    let k = keys();
    let (ssh_priv, ssh_pub) = ssh_keygen(k.dir.path(), "ed25519");
    let msg = b"plain age payload \x00\x01 with bytes".to_vec();
    for (recipient, identity) in [
        (k.recipient.clone(), k.age_file.clone()),
        (ssh_pub.clone(), ssh_priv.clone()),
    ] {
        let mut ids = Identities::new();
        if identity == k.age_file {
            ids.add_age_key_file(&identity).unwrap();
        } else {
            ids.add_ssh_key_file(&identity).unwrap();
        }
        for armor in [false, true] {
            // ox encrypts, age decrypts
            let enc = ox_sops::age_encrypt(&msg, std::slice::from_ref(&recipient), armor).unwrap();
            assert_eq!(
                age_cli(&["-d", "-i", identity.to_str().unwrap()], &enc),
                msg
            );
            // age encrypts, ox decrypts
            let mut args = vec!["-r", recipient.as_str()];
            if armor {
                args.push("-a");
            }
            let enc = age_cli(&args, &msg);
            assert_eq!(ox_sops::age_decrypt(&enc, &ids).unwrap(), msg);
        }
    }
}

#[test]
fn shamir_groups_ox_to_sops_and_back() {
    let a = keys();
    let b = keys();
    let c = keys();
    let p = a.copy("sample.yaml");
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![
            vec![a.recipient.clone()],
            vec![b.recipient.clone()],
            vec![c.recipient.clone()],
        ],
        shamir_threshold: 2,
        ..Default::default()
    };
    let enc = ox_sops::encrypt(&std::fs::read(&p).unwrap(), Format::Yaml, &opts).unwrap();
    let op = a.dir.path().join("shamir.yaml");
    std::fs::write(&op, &enc).unwrap();
    // sops with keys of groups a and c (threshold 2) decrypts
    let both = a.dir.path().join("two-keys.txt");
    std::fs::write(
        &both,
        std::fs::read_to_string(&a.age_file).unwrap()
            + &std::fs::read_to_string(&c.age_file).unwrap(),
    )
    .unwrap();
    let out = Command::new("sops")
        .args([
            "decrypt",
            "--extract",
            r#"["db"]["password"]"#,
            op.to_str().unwrap(),
        ])
        .env("HOME", a.dir.path())
        .env("SOPS_AGE_KEY_FILE", &both)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"s3cr3t-Pa55");
    // ox: one group is not enough, two are
    assert!(matches!(
        ox_sops::decrypt(&enc, Format::Yaml, &a.ids(), false),
        Err(ox_sops::Error::NoKey(_))
    ));
    let mut ids = Identities::new();
    ids.add_age_key_file(&both).unwrap();
    assert!(ox_sops::decrypt(&enc, Format::Yaml, &ids, false).is_ok());
    // a sops-made Shamir file opens in ox
    std::fs::write(
        a.dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
            a.recipient, b.recipient, c.recipient
        ),
    )
    .unwrap();
    let out = Command::new("sops")
        .args(["encrypt", p.to_str().unwrap()])
        .current_dir(a.dir.path())
        .env("HOME", a.dir.path())
        .env_remove("SOPS_AGE_RECIPIENTS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = ox_sops::decrypt(&out.stdout, Format::Yaml, &ids, false).unwrap();
    assert_eq!(d.metadata.key_groups.len(), 3);
    assert_eq!(d.metadata.shamir_threshold, 2);
}

#[test]
fn updatekeys_and_rotate_stay_readable_by_sops() {
    let a = keys();
    let b = keys();
    let p = a.copy("sample.yaml");
    let enc = a.sops(&["encrypt", p.to_str().unwrap()]);
    // add b: same data key, values untouched
    let up = ox_sops::updatekeys(
        &enc,
        Format::Yaml,
        &a.ids(),
        &[vec![a.recipient.clone(), b.recipient.clone()]],
        0,
    )
    .unwrap()
    .expect("recipients changed");
    let op = a.dir.path().join("up.yaml");
    std::fs::write(&op, &up).unwrap();
    let plain_b = b.sops(&["decrypt", op.to_str().unwrap()]);
    assert_eq!(plain_b, a.sops(&["decrypt", op.to_str().unwrap()]));
    let enc_s = String::from_utf8(enc.clone()).unwrap();
    let up_s = String::from_utf8(up.clone()).unwrap();
    let mac = |s: &str| {
        s.lines()
            .find(|l| l.trim_start().starts_with("mac:"))
            .unwrap()
            .to_string()
    };
    assert_eq!(mac(&enc_s), mac(&up_s));
    // like sops: only the new recipient's block is added, a's is kept
    let block = |s: &str| s[s.find("-----BEGIN").unwrap()..s.find("-----END").unwrap()].to_string();
    assert_eq!(block(&enc_s), block(&up_s));
    // rotate removing a: new data key, b still reads it, a no longer can
    let rot = ox_sops::rotate(
        &up,
        Format::Yaml,
        &b.ids(),
        &[],
        std::slice::from_ref(&a.recipient),
    )
    .unwrap();
    std::fs::write(&op, &rot).unwrap();
    assert_eq!(b.sops(&["decrypt", op.to_str().unwrap()]), plain_b);
    assert!(ox_sops::decrypt(&rot, Format::Yaml, &a.ids(), false).is_err());
    // IVs reused: the iv of db.user is unchanged
    let iv = |s: &str| {
        let l = s
            .lines()
            .find(|l| l.trim_start().starts_with("user:"))
            .unwrap();
        l[l.find("iv:").unwrap()..l.find(",tag").unwrap()].to_string()
    };
    assert_eq!(iv(&enc_s), iv(&String::from_utf8(rot).unwrap()));
}

#[test]
fn sops_yaml_rules_encrypted_regex_and_mac_only() {
    let k = keys();
    std::fs::create_dir_all(k.dir.path().join("k8s")).unwrap();
    std::fs::write(
        k.dir.path().join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: ^k8s/\n    encrypted_regex: ^(data|stringData)$\n    mac_only_encrypted: true\n    age: {r}\n  - path_regex: suffix\\.yaml$\n    encrypted_suffix: _secret\n    age: {r}\n  - age: {r}\n",
            r = k.recipient
        ),
    )
    .unwrap();
    let cases = [
        ("k8s/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\ndata:\n    password: aHVudGVyMg==\n"),
        ("suffix.yaml", "a_secret: hidden\nb: shown\nnested_secret:\n    c: hidden too\n"),
    ];
    for (name, text) in cases {
        let p = k.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let opts = ox_sops::config::options_for(&p, None).unwrap();
        let enc = ox_sops::encrypt(text.as_bytes(), Format::Yaml, &opts).unwrap();
        let enc_s = String::from_utf8(enc.clone()).unwrap();
        assert!(!enc_s.contains("hidden"), "{enc_s}");
        let op = k.dir.path().join(format!("{name}.ox.yaml"));
        std::fs::write(&op, &enc).unwrap();
        let theirs = k.sops(&["decrypt", op.to_str().unwrap()]);
        assert_eq!(
            ox_sops::store::load_plain(Format::Yaml, &theirs).unwrap(),
            ox_sops::store::load_plain(Format::Yaml, text.as_bytes()).unwrap(),
            "{name}"
        );
        // sops with the same rules, ox decrypts
        let enc = k.sops(&["encrypt", name]);
        let d = ox_sops::decrypt(&enc, Format::Yaml, &k.ids(), false).unwrap();
        assert_eq!(d.plaintext().unwrap(), text.as_bytes(), "{name}");
    }
    // mac_only_encrypted: a plain value may be edited by hand
    let enc = String::from_utf8(k.sops(&["encrypt", "k8s/secret.yaml"])).unwrap();
    let edited = enc.replace("name: x", "name: y");
    assert!(ox_sops::decrypt(edited.as_bytes(), Format::Yaml, &k.ids(), false).is_ok());
}

/// Typed YAML scalars (timestamps, octal/hex/underscored ints, floats,
/// bools): what sops prints after decrypting ox's encryption is byte for
/// byte what it prints after decrypting its own — so ox resolved and
/// typed every value (and hashed it into the MAC) as sops does.
#[test]
fn yaml_types_match_sops() {
    same_sops_output("types.yaml");
}

#[test]
fn yaml_strings_match_sops() {
    same_sops_output("strings.yaml");
}

fn same_sops_output(name: &str) {
    let k = keys();
    let p = k.copy(name);
    let theirs_enc = k.dir.path().join("theirs.yaml");
    std::fs::write(&theirs_enc, k.sops(&["encrypt", p.to_str().unwrap()])).unwrap();
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![vec![k.recipient.clone()]],
        ..Default::default()
    };
    let ours = ox_sops::encrypt(&std::fs::read(&p).unwrap(), Format::Yaml, &opts).unwrap();
    let ours_enc = k.dir.path().join("ours.yaml");
    std::fs::write(&ours_enc, &ours).unwrap();
    let a = k.sops(&["decrypt", theirs_enc.to_str().unwrap()]);
    let b = k.sops(&["decrypt", ours_enc.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&a));
    // the type tags agree too
    let tags = |s: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(s)
            .match_indices("type:")
            .map(|(i, _)| String::from_utf8_lossy(&s[i..i + 9]).into_owned())
            .collect()
    };
    assert_eq!(tags(&ours), tags(&std::fs::read(&theirs_enc).unwrap()));
}

#[test]
fn new_metadata_looks_like_sops() {
    // the enc block of a fresh file is a plain literal block (one final
    // newline), like sops writes it
    let k = keys();
    let opts = ox_sops::EncryptOptions {
        key_groups: vec![vec![k.recipient.clone()]],
        ..Default::default()
    };
    let enc = ox_sops::encrypt(b"a: 1\n", Format::Yaml, &opts).unwrap();
    let text = String::from_utf8(enc).unwrap();
    assert!(
        text.contains("          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{text}"
    );
    assert!(
        text.contains("-----END AGE ENCRYPTED FILE-----\n    lastmodified: \""),
        "{text}"
    );
}

/// updatekeys and rotate in every format: sops reads the results with
/// the new key and the rotated-out key no longer opens them.
#[test]
fn updatekeys_and_rotate_every_format() {
    for name in ["sample.json", "sample.env", "sample.ini", "multidoc.yaml"] {
        let a = keys();
        let b = keys();
        let p = a.copy(name);
        let fmt = Format::from_path(&p);
        let enc = a.sops(&["encrypt", p.to_str().unwrap()]);
        let up = ox_sops::updatekeys(
            &enc,
            fmt,
            &a.ids(),
            &[vec![a.recipient.clone(), b.recipient.clone()]],
            0,
        )
        .unwrap()
        .unwrap();
        let op = a.dir.path().join(format!("up.{name}"));
        std::fs::write(&op, &up).unwrap();
        let plain = a.sops(&["decrypt", op.to_str().unwrap()]);
        assert_eq!(b.sops(&["decrypt", op.to_str().unwrap()]), plain, "{name}");
        let rot =
            ox_sops::rotate(&up, fmt, &b.ids(), &[], std::slice::from_ref(&a.recipient)).unwrap();
        std::fs::write(&op, &rot).unwrap();
        assert_eq!(b.sops(&["decrypt", op.to_str().unwrap()]), plain, "{name}");
        assert!(
            ox_sops::decrypt(&rot, fmt, &a.ids(), false).is_err(),
            "{name}"
        );
    }
}
