//! Data-driven: every `vectors/NAME.enc.EXT` (made by sops 3.11 with
//! `vectors/make.sh`) decrypts with ox to exactly `NAME.expected.EXT`
//! (what `sops decrypt` printed). No sops binary needed.

use std::path::{Path, PathBuf};

use ox_sops::{Format, Identities};

mod common;
use common::norm;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn ids(files: &[&str]) -> Identities {
    let mut ids = Identities::new();
    for f in files {
        ids.add_age_key_file(&dir().join(f)).unwrap();
    }
    ids
}

/// Only the throwaway OpenSSH ed25519 key (as ssh-ed25519 identity and
/// converted to X25519).
fn ssh_ids() -> Identities {
    let mut ids = Identities::new();
    ids.add_ssh_key_file(&dir().join("ssh_ed25519")).unwrap();
    ids
}

#[test]
fn ssh_vectors_open_with_the_ssh_key_only() {
    for name in ["sshpub.enc.yaml", "sshage.enc.yaml"] {
        let p = dir().join(name);
        let d = ox_sops::decrypt_file(&p, None, &ssh_ids()).unwrap();
        assert_eq!(
            d.plaintext().unwrap(),
            b"host:\n    token: ssh-vector-secret\n"
        );
        assert!(ox_sops::decrypt_file(&p, None, &ids(&["keys.txt"])).is_err());
    }
}

#[test]
fn every_vector_decrypts_to_what_sops_printed() {
    let mut n = 0;
    let mut failures = vec![];
    for ent in std::fs::read_dir(dir()).unwrap() {
        let p = ent.unwrap().path();
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some((name, ext)) = fname.split_once(".enc.") else {
            continue;
        };
        let keys: &[&str] = match name {
            "shamir" => &["keys.txt", "keys3.txt"],
            _ => &["keys.txt"],
        };
        let ids = if name.starts_with("ssh") {
            ssh_ids()
        } else {
            ids(keys)
        };
        let d = ox_sops::decrypt_file(&p, None, &ids).unwrap();
        let ours = d.plaintext().unwrap();
        let expected = std::fs::read(dir().join(format!("{name}.expected.{ext}"))).unwrap();
        if ours != expected {
            failures.push(format!(
                "{fname}:\n--- ox\n{}\n--- sops\n{}",
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&expected)
            ));
        }
        // the plaintext ox prints parses back to the same tree (the
        // float 1.0 prints as `1`, as in sops, and comes back an int)
        let fmt = Format::from_path(&p);
        assert_eq!(
            norm(&ox_sops::store::load_plain(fmt, &ours).unwrap()),
            norm(&d.branches),
            "{fname}"
        );
        n += 1;
    }
    assert!(n >= 9, "only {n} vectors found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shamir_vector_needs_two_groups() {
    let p = dir().join("shamir.enc.yaml");
    for one in ["keys.txt", "keys2.txt", "keys3.txt"] {
        let e = ox_sops::decrypt_file(&p, None, &ids(&[one])).err().unwrap();
        assert!(e.to_string().contains("1 of 2 needed key groups"), "{e}");
    }
    for two in [["keys.txt", "keys2.txt"], ["keys2.txt", "keys3.txt"]] {
        assert!(ox_sops::decrypt_file(&p, None, &ids(&two)).is_ok());
    }
}

#[test]
fn maconly_vector_tolerates_plain_edits_only() {
    let p = dir().join("maconly.enc.yaml");
    let text = std::fs::read_to_string(&p).unwrap();
    let edited = text.replace("name: x", "name: changed");
    assert_ne!(edited, text);
    let d = ox_sops::decrypt(edited.as_bytes(), Format::Yaml, &ids(&["keys.txt"]), false).unwrap();
    assert_eq!(
        d.extract(&ox_sops::parse_extract(r#"["metadata"]["name"]"#).unwrap())
            .unwrap()
            .as_str(),
        Some("changed")
    );
}

#[test]
fn twokeys_vector_opens_with_either() {
    let p = dir().join("twokeys.enc.yaml");
    for k in ["keys.txt", "keys2.txt"] {
        let d = ox_sops::decrypt_file(&p, None, &ids(&[k])).unwrap();
        assert_eq!(d.plaintext().unwrap(), b"k: twokeys-secret\n");
    }
    assert!(ox_sops::decrypt_file(&p, None, &ids(&["keys3.txt"])).is_err());
}

/// Writing is byte-compatible: re-encrypting a decrypted sops file with
/// its data key (IVs reused from the stash, as `sops edit` does) gives
/// back sops' own file except for `lastmodified` and `mac`.
#[test]
fn reencrypting_gives_sops_bytes_back() {
    let mut n = 0;
    for ent in std::fs::read_dir(dir()).unwrap() {
        let p = ent.unwrap().path();
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some((name, _)) = fname.split_once(".enc.") else {
            continue;
        };
        let keys: &[&str] = match name {
            "shamir" => &["keys.txt", "keys3.txt"],
            _ => &["keys.txt"],
        };
        let keyring = if name.starts_with("ssh") {
            ssh_ids()
        } else {
            ids(keys)
        };
        let original = std::fs::read_to_string(&p).unwrap();
        let mut d = ox_sops::decrypt_file(&p, None, &keyring).unwrap();
        let branches = d.branches.clone();
        let again = String::from_utf8(d.reencrypt(branches).unwrap()).unwrap();
        // sops writes flattened (dotenv/INI) metadata in Go map order,
        // which is random: compare those files as sorted lines
        let flat = fname.ends_with(".ini") || fname.ends_with(".env");
        let strip = |s: &str| -> String {
            let mut l: Vec<&str> = s
                .lines()
                .filter(|l| !l.contains("lastmodified") && !l.contains("mac"))
                .collect();
            if flat {
                l.sort();
            }
            l.join("\n")
        };
        assert_eq!(strip(&again), strip(&original), "{fname}");
        // and the result still opens (new MAC is right)
        let fmt = Format::from_path(&p);
        ox_sops::decrypt(again.as_bytes(), fmt, &keyring, false).unwrap();
        n += 1;
    }
    assert!(n >= 9);
}

/// Corrupted input never panics: every mutation of every vector either
/// decrypts (a change outside values and MAC-covered data, e.g. in a
/// comment ciphertext) or is refused with an error.
#[test]
fn mutations_never_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let all = ids(&["keys.txt", "keys2.txt", "keys3.txt"]);
    let mut refused = 0;
    for ent in std::fs::read_dir(dir()).unwrap() {
        let p = ent.unwrap().path();
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        if !fname.contains(".enc.") {
            continue;
        }
        let fmt = Format::from_path(&p);
        let orig = std::fs::read(&p).unwrap();
        for _ in 0..200 {
            let mut m = orig.clone();
            for _ in 0..(1 + rnd() % 3) {
                let i = (rnd() as usize) % m.len();
                match rnd() % 3 {
                    0 => m[i] = (rnd() % 256) as u8,
                    1 => {
                        m.remove(i);
                    }
                    _ => {
                        let junk = b"\n:-[{'\"#&*!|>";
                        m.insert(i, junk[(rnd() as usize) % junk.len()])
                    }
                }
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ox_sops::decrypt(&m, fmt, &all, false).is_ok()
            }));
            match r {
                Ok(true) => {}
                Ok(false) => refused += 1,
                Err(_) => panic!(
                    "{fname}: panic on mutated input:\n{}",
                    String::from_utf8_lossy(&m)
                ),
            }
        }
    }
    assert!(refused > 500, "only {refused} mutations refused");
}

/// The plaintext parsers and emitters never panic on mutated input, and
/// whatever parses re-emits to something that parses to the same tree.
#[test]
fn plaintext_mutations_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut parsed = 0;
    for ent in std::fs::read_dir(dir()).unwrap() {
        let p = ent.unwrap().path();
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        if !fname.contains(".plain.") {
            continue;
        }
        let fmt = Format::from_path(&p);
        let orig = std::fs::read(&p).unwrap();
        for _ in 0..1000 {
            let mut m = orig.clone();
            for _ in 0..(1 + rnd() % 3) {
                let i = (rnd() as usize) % m.len();
                let junk = b"\n:-[{'\"#&*!|> \t=;";
                match rnd() % 3 {
                    0 => m[i] = junk[(rnd() as usize) % junk.len()],
                    1 => {
                        m.remove(i);
                    }
                    _ => m.insert(i, junk[(rnd() as usize) % junk.len()]),
                }
            }
            let r = std::panic::catch_unwind(|| {
                let Ok(t) = ox_sops::store::load_plain(fmt, &m) else {
                    return false;
                };
                let out = ox_sops::store::emit(fmt, &t, None).unwrap();
                if fmt != Format::Binary {
                    let back = ox_sops::store::load_plain(fmt, &out).unwrap_or_else(|e| {
                        panic!(
                            "re-emitted output does not parse: {e}\n{}",
                            String::from_utf8_lossy(&out)
                        )
                    });
                    if fmt == Format::Ini {
                        // go-ini (and so sops) writes a comment whose text
                        // starts with a marker as is, and strips it when
                        // reading back: INI converges after one round
                        let out2 = ox_sops::store::emit(fmt, &back, None).unwrap();
                        let back2 = ox_sops::store::load_plain(fmt, &out2).unwrap();
                        assert_eq!(back2, back, "{}", String::from_utf8_lossy(&out2));
                    } else {
                        assert_eq!(norm(&back), norm(&t), "{}", String::from_utf8_lossy(&out));
                    }
                }
                true
            });
            match r {
                Ok(true) => parsed += 1,
                Ok(false) => {}
                Err(_) => panic!("{fname}: mutated input:\n{}", String::from_utf8_lossy(&m)),
            }
        }
    }
    assert!(parsed > 300, "only {parsed} mutations parsed");
}
