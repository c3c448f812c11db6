//! Interop with the real `sops` and `age` binaries (installed by
//! scripts/deps): files sops encrypts, ox decrypts to identical values;
//! files ox encrypts, `sops -d` decrypts with MAC checking.

use std::path::{Path, PathBuf};
use std::process::Command;

use ox_sops::{Format, Identities};

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

/// sops prints the float 1.0 as `1` (and sops <= 3.13.1 reads JSON
/// integers as floats), so integral floats and ints compare equal.
fn norm(v: &[ox_sops::Value]) -> Vec<ox_sops::Value> {
    use ox_sops::{Item, Value};
    fn go(v: &Value) -> Value {
        match v {
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::Int(*f as i64),
            Value::Map(m) => Value::Map(
                m.iter()
                    .map(|i| match i {
                        Item::Pair(k, v) => Item::Pair(k.clone(), go(v)),
                        c => c.clone(),
                    })
                    .collect(),
            ),
            Value::List(l) => Value::List(l.iter().map(go).collect()),
            v => v.clone(),
        }
    }
    v.iter().map(go).collect()
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
