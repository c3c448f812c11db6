//! `ox secrets`: sops-compatible encrypted files and age keys, with the
//! work done by `ox-sops`. Identities come from the same places sops
//! looks (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_SSH_PRIVATE_KEY_FILE,
//! ~/.ssh/id_ed25519, ~/.config/sops/age/keys.txt) plus `--identity`.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use clap::{Args, Subcommand};
use ox_sops::{Format, Identities};

#[derive(Args, Debug)]
pub struct SecretsArgs {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Default, Clone)]
struct IdArgs {
    /// An identity: an age key file or an OpenSSH private key (repeatable).
    #[arg(short = 'k', long = "identity", global = true)]
    identity: Vec<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct TypeArgs {
    /// The input format (default: from the file extension).
    #[arg(long = "input-type")]
    input_type: Option<String>,
}

/// sops' crypt-rule flags (at most one) and friends; they override the
/// `.sops.yaml` rule's.
#[derive(Args, Debug, Clone, Default)]
struct RuleArgs {
    #[arg(long = "unencrypted-suffix")]
    unencrypted_suffix: Option<String>,
    #[arg(long = "encrypted-suffix")]
    encrypted_suffix: Option<String>,
    #[arg(long = "unencrypted-regex")]
    unencrypted_regex: Option<String>,
    #[arg(long = "encrypted-regex")]
    encrypted_regex: Option<String>,
    #[arg(long = "unencrypted-comment-regex")]
    unencrypted_comment_regex: Option<String>,
    #[arg(long = "encrypted-comment-regex")]
    encrypted_comment_regex: Option<String>,
    /// Only encrypted values enter the MAC (plain values may be edited).
    #[arg(long = "mac-only-encrypted")]
    mac_only_encrypted: bool,
    /// With several key groups: how many are needed.
    #[arg(long = "shamir-secret-sharing-threshold")]
    shamir_threshold: Option<usize>,
}

impl RuleArgs {
    fn apply(&self, opts: &mut ox_sops::EncryptOptions) -> Result<(), String> {
        let given: Vec<(&str, &String)> = [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        if given.len() > 1 {
            return Err(e("give at most one of --unencrypted-suffix, --encrypted-suffix, --unencrypted-regex, --encrypted-regex, --unencrypted-comment-regex, --encrypted-comment-regex"));
        }
        if let Some((k, v)) = given.first() {
            opts.rule = ox_sops::CryptRule::from_key(k, v).map_err(e)?;
        }
        if self.mac_only_encrypted {
            opts.mac_only_encrypted = true;
        }
        if let Some(t) = self.shamir_threshold {
            opts.shamir_threshold = t;
        }
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Encrypt a plaintext file (recipients from --age or .sops.yaml).
    Encrypt {
        file: PathBuf,
        /// Comma-separated recipients (age1…, ssh-ed25519 …, ssh-rsa …);
        /// default $SOPS_AGE_RECIPIENTS, then the .sops.yaml creation rule.
        #[arg(long)]
        age: Option<String>,
        /// Use this config instead of searching for .sops.yaml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write the result back to FILE.
        #[arg(short = 'i', long = "in-place")]
        in_place: bool,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Decrypt a file (MAC checked) to stdout.
    Decrypt {
        file: PathBuf,
        /// Print one value, e.g. '["db"]["password"]'.
        #[arg(long)]
        extract: Option<String>,
        /// Skip the MAC check.
        #[arg(long = "ignore-mac")]
        ignore_mac: bool,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Edit an encrypted file with $EDITOR (plaintext only on tmpfs).
    Edit {
        file: PathBuf,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Re-wrap the data key for the recipients .sops.yaml now lists.
    Updatekeys {
        files: Vec<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// New data key, optionally adding/removing recipients.
    Rotate {
        file: PathBuf,
        #[arg(long = "add-age")]
        add_age: Option<String>,
        #[arg(long = "rm-age")]
        rm_age: Option<String>,
        #[arg(short = 'i', long = "in-place")]
        in_place: bool,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Install a host's secrets from a manifest (sops-nix manifest.json
    /// fields): decrypt into a new generation and switch the symlink.
    Install {
        manifest: PathBuf,
        /// Only validate (files, keys, formats); needs no identity.
        #[arg(long)]
        check: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Decrypt and compare with the current generation; write nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
    /// Encrypt a whole file as a plain age file (agenix style).
    AgeEncrypt {
        /// Recipients (age1…, ssh-ed25519 …, ssh-rsa …), repeatable.
        #[arg(short = 'r', long = "recipient", required = true)]
        recipient: Vec<String>,
        /// ASCII armor.
        #[arg(short = 'a', long)]
        armor: bool,
        /// Input (default: stdin).
        file: Option<PathBuf>,
    },
    /// Decrypt a plain age file to stdout.
    AgeDecrypt {
        /// Input (default: stdin).
        file: Option<PathBuf>,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Set one value in place, e.g. `set f.yaml '["db"]["pw"]' '"x"'`
    /// (the value is JSON); unchanged values keep their ciphertext.
    Set {
        file: PathBuf,
        path: String,
        /// A JSON value; with --value-stdin, read from stdin instead.
        value: Option<String>,
        #[arg(long = "value-stdin")]
        value_stdin: bool,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Remove one value in place.
    Unset {
        file: PathBuf,
        path: String,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Run a command with the file's top-level scalar values as
    /// environment variables (plaintext only in the child's environment).
    ExecEnv {
        file: PathBuf,
        /// The command, run with `sh -c`.
        command: String,
        #[command(flatten)]
        ty: TypeArgs,
        #[command(flatten)]
        ids: IdArgs,
    },
    /// Generate an age X25519 key.
    Keygen {
        /// Write the key here (mode 0600) instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Convert an ssh-ed25519 public key (or with --private-key, an
    /// OpenSSH private key) to its age form.
    SshToAge {
        /// The key file (default: stdin).
        #[arg(short = 'i', long = "input")]
        input: Option<PathBuf>,
        #[arg(long = "private-key")]
        private_key: bool,
    },
}

fn e<E: std::fmt::Display>(x: E) -> String {
    format!("error: {x}\n")
}

fn identities(extra: &IdArgs) -> Result<Identities, String> {
    let mut ids = Identities::from_env().map_err(e)?;
    for p in &extra.identity {
        let text = std::fs::read(p).map_err(|x| e(format!("{}: {x}", p.display())))?;
        if text.starts_with(b"-----BEGIN") {
            ids.add_ssh_key_file(p).map_err(e)?;
        } else {
            ids.add_age_key_file(p).map_err(e)?;
        }
    }
    if ids.is_empty() {
        return Err(e(
            "no identity found: set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_SSH_PRIVATE_KEY_FILE, or pass --identity",
        ));
    }
    Ok(ids)
}

fn format_of(file: &Path, ty: &TypeArgs) -> Result<Format, String> {
    match &ty.input_type {
        Some(t) => Format::from_name(t).map_err(e),
        None => Ok(Format::from_path(file)),
    }
}

fn read(file: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|x| e(format!("{}: {x}", file.display())))
}

/// Replace `file` atomically, keeping its permissions.
fn write_atomic(file: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.ox-tmp{}", std::process::id()));
    let mode = std::fs::metadata(file)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o644);
    let r = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o7777)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if let Err(x) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e(format!("{}: {x}", file.display())));
    }
    Ok(())
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>, String> {
    match file {
        Some(p) => read(p),
        None => {
            let mut b = vec![];
            std::io::stdin().read_to_end(&mut b).map_err(e)?;
            Ok(b)
        }
    }
}

fn stdout(bytes: &[u8]) -> Result<(), String> {
    let mut o = std::io::stdout().lock();
    o.write_all(bytes).and_then(|_| o.flush()).map_err(e)
}

fn split_keys(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

pub fn run(a: SecretsArgs) -> Result<ExitCode, String> {
    match a.cmd {
        Cmd::Encrypt {
            file,
            age,
            config,
            in_place,
            ty,
            rule,
        } => {
            let fmt = format_of(&file, &ty)?;
            let mut opts = match age.or_else(|| std::env::var("SOPS_AGE_RECIPIENTS").ok()) {
                Some(r) if config.is_none() => ox_sops::EncryptOptions {
                    key_groups: vec![split_keys(&r)],
                    ..Default::default()
                },
                _ => ox_sops::config::options_for(&file, config.as_deref()).map_err(e)?,
            };
            rule.apply(&mut opts)?;
            let out =
                ox_sops::encrypt(&read(&file)?, fmt, &opts).map_err(|x| e(x.in_file(&file)))?;
            if in_place {
                write_atomic(&file, &out)?;
            } else {
                stdout(&out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Decrypt {
            file,
            extract,
            ignore_mac,
            ty,
            ids,
        } => {
            let fmt = format_of(&file, &ty)?;
            let ids = identities(&ids)?;
            let d = ox_sops::decrypt(&read(&file)?, fmt, &ids, ignore_mac)
                .map_err(|x| e(x.in_file(&file)))?;
            let out = match extract {
                Some(p) => {
                    let path = ox_sops::parse_extract(&p).map_err(e)?;
                    d.extract_bytes(&path).map_err(|x| e(x.in_file(&file)))?
                }
                None => d.plaintext().map_err(e)?,
            };
            stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Edit { file, ty, ids } => edit(&file, format_of(&file, &ty)?, &ids),
        Cmd::Updatekeys {
            files,
            yes,
            config,
            ty,
            ids,
        } => {
            let ids = identities(&ids)?;
            for file in files {
                let fmt = format_of(&file, &ty)?;
                let opts = ox_sops::config::options_for(&file, config.as_deref()).map_err(e)?;
                let bytes = read(&file)?;
                let before = ox_sops::store::load_encrypted(fmt, &bytes)
                    .map_err(|x| e(x.in_file(&file)))?
                    .1
                    .recipients();
                let Some(out) =
                    ox_sops::updatekeys(&bytes, fmt, &ids, &opts.key_groups, opts.shamir_threshold)
                        .map_err(|x| e(x.in_file(&file)))?
                else {
                    eprintln!("{}: already up to date", file.display());
                    continue;
                };
                let after: Vec<String> = opts.key_groups.iter().flatten().cloned().collect();
                eprintln!("{}: key groups change", file.display());
                for r in after.iter().filter(|r| !before.contains(r)) {
                    eprintln!("+++ {r}");
                }
                for r in before.iter().filter(|r| !after.contains(r)) {
                    eprintln!("--- {r}");
                }
                if !yes {
                    if !std::io::stdin().is_terminal() {
                        return Err(e(
                            "refusing to change keys without -y (stdin is not a terminal)",
                        ));
                    }
                    eprint!("Is this okay? (y/n): ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map_err(e)?;
                    if !line.trim().eq_ignore_ascii_case("y") {
                        eprintln!("{}: skipped", file.display());
                        continue;
                    }
                }
                write_atomic(&file, &out)?;
                eprintln!("{}: updated", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Rotate {
            file,
            add_age,
            rm_age,
            in_place,
            ty,
            ids,
        } => {
            let fmt = format_of(&file, &ty)?;
            let ids = identities(&ids)?;
            let add = add_age.map(|s| split_keys(&s)).unwrap_or_default();
            let rm = rm_age.map(|s| split_keys(&s)).unwrap_or_default();
            let out = ox_sops::rotate(&read(&file)?, fmt, &ids, &add, &rm)
                .map_err(|x| e(x.in_file(&file)))?;
            if in_place {
                write_atomic(&file, &out)?;
            } else {
                stdout(&out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Install {
            manifest,
            check,
            json,
            dry_run,
        } => {
            let m = ox_sops::manifest::Manifest::from_json(&read(&manifest)?)
                .map_err(|x| e(x.in_file(&manifest)))?;
            let specs: Vec<&ox_sops::install::Spec> =
                m.for_users.iter().chain(std::iter::once(&m.spec)).collect();
            if check {
                for s in specs {
                    ox_sops::install::check(s).map_err(e)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = vec![];
            for s in specs {
                let r = if dry_run {
                    ox_sops::install::dry_run(s)
                } else {
                    ox_sops::install::install(s)
                }
                .map_err(e)?;
                if !json {
                    for (what, l) in [
                        ("adding", &r.added),
                        ("modifying", &r.changed),
                        ("removing", &r.removed),
                    ] {
                        if !l.is_empty() {
                            let would = if dry_run { "would be " } else { "" };
                            eprintln!("{would}{what} secret(s): {}", l.join(", "));
                        }
                    }
                }
                out.push(serde_json::json!({
                    "generation": r.generation,
                    "added": r.added,
                    "changed": r.changed,
                    "removed": r.removed,
                    "restartUnits": r.restart_units,
                    "reloadUnits": r.reload_units,
                }));
            }
            if json {
                stdout(format!("{}\n", serde_json::Value::Array(out)).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::AgeEncrypt {
            recipient,
            armor,
            file,
        } => {
            let data = read_input(file.as_deref())?;
            let out = ox_sops::age_encrypt(&data, &recipient, armor).map_err(e)?;
            stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::AgeDecrypt { file, ids } => {
            let ids = identities(&ids)?;
            let data = read_input(file.as_deref())?;
            let out = ox_sops::age_decrypt(&data, &ids).map_err(e)?;
            stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Set {
            file,
            path,
            value,
            value_stdin,
            ty,
            ids,
        } => {
            let fmt = format_of(&file, &ty)?;
            let ids = identities(&ids)?;
            let text = match (value, value_stdin) {
                (Some(v), false) => v.into_bytes(),
                (None, true) => read_input(None)?,
                _ => return Err(e("give either VALUE or --value-stdin")),
            };
            // never echo the value: the parse error says where, not what
            let j: serde_json::Value = serde_json::from_slice(&text).map_err(|x| {
                e(format!(
                    "the value is not JSON (line {}, column {}); quote strings: '\"…\"'",
                    x.line(),
                    x.column()
                ))
            })?;
            let mut d = ox_sops::decrypt(&read(&file)?, fmt, &ids, false)
                .map_err(|x| e(x.in_file(&file)))?;
            let p = ox_sops::parse_extract(&path).map_err(e)?;
            d.set(&p, ox_sops::store::json::from_json(j)).map_err(e)?;
            let out = d.reencrypt(d.branches.clone()).map_err(e)?;
            write_atomic(&file, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Unset {
            file,
            path,
            ty,
            ids,
        } => {
            let fmt = format_of(&file, &ty)?;
            let ids = identities(&ids)?;
            let mut d = ox_sops::decrypt(&read(&file)?, fmt, &ids, false)
                .map_err(|x| e(x.in_file(&file)))?;
            let p = ox_sops::parse_extract(&path).map_err(e)?;
            d.unset(&p).map_err(e)?;
            let out = d.reencrypt(d.branches.clone()).map_err(e)?;
            write_atomic(&file, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ExecEnv {
            file,
            command,
            ty,
            ids,
        } => {
            let fmt = format_of(&file, &ty)?;
            let ids = identities(&ids)?;
            let d = ox_sops::decrypt(&read(&file)?, fmt, &ids, false)
                .map_err(|x| e(x.in_file(&file)))?;
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(&command);
            if let Some(ox_sops::Value::Map(items)) = d.branches.first() {
                for it in items {
                    if let ox_sops::Item::Pair(k, v) = it {
                        if let Some(text) = v.display_text() {
                            cmd.env(k, String::from_utf8_lossy(&text).into_owned());
                        }
                    }
                }
            }
            let status = cmd
                .status()
                .map_err(|x| e(format!("cannot run the command: {x}")))?;
            Ok(match status.code() {
                Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
                None => ExitCode::FAILURE,
            })
        }
        Cmd::Keygen { output } => {
            let (secret, public) = ox_sops::keygen();
            let text = format!(
                "# created: {}\n# public key: {public}\n{secret}\n",
                ox_sops::core::now_rfc3339()
            );
            match output {
                Some(p) => {
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&p)
                        .map_err(|x| e(format!("{}: {x}", p.display())))?;
                    f.write_all(text.as_bytes()).map_err(e)?;
                    eprintln!("Public key: {public}");
                }
                None => stdout(text.as_bytes())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::SshToAge { input, private_key } => {
            let bytes = match &input {
                Some(p) => read(p)?,
                None => {
                    let mut b = vec![];
                    std::io::stdin().read_to_end(&mut b).map_err(e)?;
                    b
                }
            };
            let out = if private_key {
                ox_sops::keys::ssh_private_to_age(&bytes).map_err(e)?
            } else {
                // authorized_keys / known_hosts / ssh-keyscan lines: the
                // ssh-ed25519 key wherever it sits; other key types skipped
                let text = String::from_utf8_lossy(&bytes);
                let mut out = vec![];
                for line in text.lines().filter(|l| !l.starts_with('#')) {
                    let Some(at) = line.find("ssh-ed25519 ") else {
                        continue;
                    };
                    out.push(ox_sops::ssh_to_age(&line[at..]).map_err(e)?);
                }
                if out.is_empty() {
                    return Err(e("no ssh-ed25519 public key in the input"));
                }
                out.join("\n")
            };
            stdout(format!("{out}\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The signal that arrived while the editor ran (0 = none).
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_signal(sig: libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Removes the plaintext directory however `edit` ends (error, signal,
/// panic), and restores the signal dispositions.
struct EditGuard {
    dir: PathBuf,
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl Drop for EditGuard {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for ent in entries.flatten() {
                // overwrite before unlinking: tmpfs pages are freed, but
                // an editor may have hard-linked the file elsewhere
                if let Ok(m) = ent.metadata() {
                    if m.is_file() {
                        let _ = std::fs::write(ent.path(), vec![0u8; m.len() as usize]);
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        for (sig, act) in &self.old {
            // SAFETY: restoring a disposition saved by sigaction below.
            unsafe { libc::sigaction(*sig, act, std::ptr::null_mut()) };
        }
    }
}

/// A private directory on a RAM-backed filesystem for plaintext.
fn tmpfs_dir() -> Result<PathBuf, String> {
    let bases: Vec<PathBuf> = match std::env::var_os("OX_SECRETS_TMPDIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![
            PathBuf::from("/dev/shm"),
            PathBuf::from("/run/user").join(unsafe { libc::getuid() }.to_string()),
            PathBuf::from("/run"),
        ],
    };
    for base in bases {
        if !ox_sops::install::is_ram_fs(&base) {
            continue;
        }
        let mut rnd = [0u8; 8];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = f.read_exact(&mut rnd);
        }
        let dir = base.join(format!(
            "ox-secrets-{}-{}",
            std::process::id(),
            hex_of(&rnd)
        ));
        let mut b = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        if b.create(&dir).is_ok() {
            return Ok(dir);
        }
    }
    Err(e(
        "no writable tmpfs (/dev/shm, /run/user/UID, /run) for the plaintext; refusing to write it to disk",
    ))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn edit(file: &Path, fmt: Format, id_args: &IdArgs) -> Result<ExitCode, String> {
    // a file that does not exist yet is created (recipients from
    // $SOPS_AGE_RECIPIENTS or .sops.yaml), like `sops edit NEW`
    let mut existing = match file.exists() {
        true => {
            let ids = identities(id_args)?;
            Some(ox_sops::decrypt(&read(file)?, fmt, &ids, false).map_err(|x| e(x.in_file(file)))?)
        }
        false => None,
    };
    let new_opts = match (&existing, std::env::var("SOPS_AGE_RECIPIENTS")) {
        (Some(_), _) => None,
        (None, Ok(r)) => Some(ox_sops::EncryptOptions {
            key_groups: vec![split_keys(&r)],
            ..Default::default()
        }),
        (None, Err(_)) => Some(ox_sops::config::options_for(file, None).map_err(e)?),
    };
    let plain = match &existing {
        Some(d) => d.plaintext().map_err(e)?,
        None => vec![],
    };
    let dir = tmpfs_dir()?;
    let mut guard = EditGuard {
        dir: dir.clone(),
        old: vec![],
    };
    // Ctrl-C reaches the editor and us; we note it instead of dying so
    // the guard can remove the plaintext. Handlers (unlike SIG_IGN) are
    // reset to the default in the editor on exec.
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: installing an async-signal-safe handler (one atomic store).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = note_signal as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &act, &mut old) == 0 {
                guard.old.push((sig, old));
            }
        }
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret".into());
    let tmp = dir.join(&name);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|x| e(format!("{}: {x}", tmp.display())))?;
        f.write_all(&plain).map_err(e)?;
    }
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("ox-secrets-edit")
        .arg(&tmp)
        .status()
        .map_err(|x| e(format!("cannot run $EDITOR ({editor}): {x}")))?;
    let sig = SIGNALLED.load(Ordering::SeqCst);
    if sig != 0 {
        drop(guard);
        return Err(e(format!(
            "interrupted by signal {sig}; {} left unchanged",
            file.display()
        )));
    }
    if !status.success() {
        return Err(e(format!(
            "$EDITOR ({editor}) failed ({status}); {} left unchanged",
            file.display()
        )));
    }
    let edited = std::fs::read(&tmp).map_err(|x| e(format!("{}: {x}", tmp.display())))?;
    if edited == plain {
        eprintln!("{}: unchanged", file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let out = match (&mut existing, &new_opts) {
        (Some(d), _) => {
            let branches = ox_sops::store::load_plain(fmt, &edited).map_err(|x| {
                e(format!(
                    "the edited file does not parse, {} left unchanged: {x}",
                    file.display()
                ))
            })?;
            d.reencrypt(branches).map_err(e)?
        }
        (None, Some(opts)) => ox_sops::encrypt(&edited, fmt, opts)
            .map_err(|x| e(format!("the new file was not created: {x}")))?,
        (None, None) => unreachable!("options are computed for new files"),
    };
    write_atomic(file, &out)?;
    drop(guard);
    Ok(ExitCode::SUCCESS)
}
