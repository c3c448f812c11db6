//! Before `ox install --target` changes anything: will the host's sops
//! secrets decrypt at its first boot? They decrypt with the identities
//! the host's config names (`sops.age.sshKeyPaths`, default
//! `/etc/ssh/ssh_host_ed25519_key`, and `sops.age.keyFile`), which must
//! be in the new root by then: `--extra-files` is how they get there.
//! This tries exactly that: each sops file the toplevel uses is
//! decrypted here with the keys found at those paths inside the
//! extra-files directory. Failures are warnings (the key may come from
//! `--base`, or be placed by hand before the first boot).

use std::path::Path;

use ox_localstore::Store;

/// Warnings (empty: no secrets, or every sops file decrypts with the
/// keys in `extra`).
pub fn check(store: &Store, top: &Path, extra: Option<&Path>) -> Vec<String> {
    let t = match ox_activate::plan::Toplevel::load(top) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read {}: {e}", top.display())],
    };
    if !ox_activate::secrets::declared(&t) {
        return Vec::new();
    }
    let m = match ox_activate::secrets::manifest(&t) {
        Ok(m) => m,
        Err(e) => return vec![e.to_string()],
    };
    let specs: Vec<&ox_sops::install::Spec> = std::iter::once(&m.spec)
        .chain(m.for_users.as_ref())
        .collect();
    let mut key_paths: Vec<std::path::PathBuf> = Vec::new();
    for s in &specs {
        key_paths.extend(s.ssh_key_paths.iter().cloned());
        key_paths.extend(s.age_key_file.iter().cloned());
    }
    key_paths.sort();
    key_paths.dedup();
    let wanted = key_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let Some(extra) = extra else {
        return vec![format!(
            "the host declares sops secrets, which decrypt at the first boot with {wanted} in the new root; no --extra-files was given, so it must come with --base or be put there by hand"
        )];
    };
    let mut ids = ox_sops::keys::Identities::new();
    let mut found = Vec::new();
    let mut warnings = Vec::new();
    for s in &specs {
        for p in &s.ssh_key_paths {
            let f = extra.join(p.strip_prefix("/").unwrap_or(p));
            if f.exists() {
                match ids.add_ssh_key_file(&f) {
                    Ok(()) => found.push(p.display().to_string()),
                    Err(e) => warnings.push(format!("{}: {e}", f.display())),
                }
            }
        }
        if let Some(p) = &s.age_key_file {
            let f = extra.join(p.strip_prefix("/").unwrap_or(p));
            if f.exists() {
                match ids.add_age_key_file(&f) {
                    Ok(_) => found.push(p.display().to_string()),
                    Err(e) => warnings.push(format!("{}: {e}", f.display())),
                }
            }
        }
    }
    if found.is_empty() {
        warnings.push(format!(
            "the host declares sops secrets, which decrypt at the first boot with {wanted}; --extra-files {} holds none of these",
            extra.display()
        ));
        return warnings;
    }
    found.sort();
    found.dedup();
    let mut files: Vec<(std::path::PathBuf, ox_sops::store::Format)> = specs
        .iter()
        .flat_map(|s| s.secrets.iter())
        .map(|s| (s.sops_file.clone(), s.format))
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    for (file, format) in files {
        // the manifest names logical store paths
        let real = store
            .real_path_of_str(&file.to_string_lossy())
            .filter(|p| p.exists())
            .unwrap_or_else(|| file.clone());
        if let Err(e) = ox_sops::decrypt_file(&real, Some(format), &ids) {
            warnings.push(format!(
                "the host's secrets in {} will not decrypt at the first boot with the key(s) from --extra-files ({}): {e}. Add the host's key to .sops.yaml and run `ox secrets updatekeys`, or give the key the file is encrypted for",
                file.display(),
                found.join(", ")
            ));
        }
    }
    warnings
}
