//! `ox build`'s build-time check of a host's secrets, like sops-nix's
//! `sops-install-secrets -check-mode=sopsfile`: every sops file that went
//! to the store is a sops file of the declared format and holds every
//! declared key. Needs no key (names and types are readable without
//! decrypting); files outside the store live on the host and are checked
//! at activation. Runs before the toplevel is written to the store.

use ox_localstore::Store;

pub fn check(store: &Store, r: &ox_system::Rendered) -> Result<(), String> {
    let Some(m) = &r.plan.secrets.0 else {
        return Ok(());
    };
    let mut m = m.clone();
    // store paths become files on this machine; others are skipped
    m.secrets.retain_mut(
        |s| match store.real_path_of_str(&s.sops_file).filter(|p| p.exists()) {
            Some(p) => {
                s.sops_file = p.to_string_lossy().into_owned();
                true
            }
            None => false,
        },
    );
    let manifest = ox_sops::manifest::Manifest::from_plan(&ox_system::plan::Secrets(Some(m)))
        .map_err(|e| e.to_string())?;
    for spec in std::iter::once(&manifest.spec).chain(manifest.for_users.as_ref()) {
        ox_sops::install::check(spec).map_err(|e| e.to_string())?;
    }
    Ok(())
}
