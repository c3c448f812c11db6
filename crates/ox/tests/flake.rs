//! `ox flake …` and `ox eval --flake` on the command line: the example
//! fleet's host discovery, follows and overlay, and `ox flake update`
//! reporting what changed.

use std::path::{Path, PathBuf};

use ox_testhost::testsupport::{outcome, ox_command, ox_search_path, repo, sh, Scratch};

/// Run ox with the repository's nix/ tree as the ox input and a store
/// inside `work`.
fn ox(work: &Path, cwd: &Path, args: &[&str]) -> (bool, String, String) {
    outcome(
        ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .args(args)
            .args(ox_search_path())
            .arg("--store")
            .arg(work.join("store"))
            .current_dir(cwd),
    )
}

/// A copy of examples/homelab outside any git repository.
fn homelab(work: &Path) -> PathBuf {
    let dst = work.join("homelab");
    sh(
        work,
        &format!(
            "cp -r {} {}",
            repo().join("examples/homelab").display(),
            dst.display()
        ),
    );
    let _ = std::fs::remove_file(dst.join("flake.lock"));
    dst
}

#[test]
fn homelab_hosts_are_the_folders_under_hosts() {
    let t = Scratch::new("flake-cli-hosts");
    let dir = homelab(t.path());
    let mut folders: Vec<String> = std::fs::read_dir(dir.join("hosts"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert!(folders.len() >= 12, "the example has at least twelve hosts");
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--json",
            "--flake",
            ".#oxConfigurations",
            "-E",
            "builtins.attrNames",
        ],
    );
    assert!(ok, "{}", err);
    let names: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(names, folders);

    // Adding a folder adds a host; a plain file does not.
    std::fs::create_dir(dir.join("hosts/neu")).unwrap();
    std::fs::write(dir.join("hosts/neu/default.nix"), "{ ... }: { }\n").unwrap();
    std::fs::write(dir.join("hosts/NOTES"), "not a host\n").unwrap();
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--json",
            "--flake",
            ".#oxConfigurations",
            "-E",
            "builtins.attrNames",
        ],
    );
    assert!(ok, "{}", err);
    let names: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    assert!(names.contains(&"neu".to_string()), "{:?}", names);
    assert!(!names.contains(&"NOTES".to_string()));
    assert_eq!(names.len(), folders.len() + 1);
}

#[test]
fn homelab_follows_and_overlay() {
    let t = Scratch::new("flake-cli-follows");
    let dir = homelab(t.path());
    let (ok, _, err) = ox(t.path(), &dir, &["flake", "lock"]);
    assert!(ok, "{}", err);
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("flake.lock")).unwrap()).unwrap();
    let nodes = &lock["nodes"];
    // One compositor: hy3's hyprland follows the fleet's, which follows ox.
    assert_eq!(
        nodes["hy3"]["inputs"]["hyprland"],
        serde_json::json!(["hyprland"])
    );
    assert_eq!(nodes["hyprland"]["inputs"]["ox"], serde_json::json!(["ox"]));
    assert_eq!(nodes["ox"]["locked"]["type"], "ox");
    assert_eq!(nodes["ox"]["locked"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(nodes["ox"]["locked"]["narHash"]
        .as_str()
        .unwrap()
        .starts_with("sha256-"));
    assert_eq!(
        nodes.as_object().unwrap().len(),
        4,
        "no duplicate hyprland or ox nodes"
    );

    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--strict",
            "--flake",
            ".#inputs",
            "-E",
            "i: [ (i.hy3.inputs.hyprland.outPath == i.hyprland.outPath) (i.hyprland.inputs.ox.outPath == i.ox.outPath) ]",
        ],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "[ true true ]");

    // The overlay replaces pkgs.hyprland with the pinned input's build.
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--strict",
            "--flake",
            ".",
            "-E",
            "f: let p = import <ox/pkgs> { overlays = [ f.overlays.default ]; }; in [ (p.hyprland.outPath == f.inputs.hyprland.packages.x86_64-linux.hyprland.outPath) (p.hyprlandPlugins.hy3.outPath == f.inputs.hy3.packages.x86_64-linux.hy3.outPath) ]",
        ],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "[ true true ]");

    // metadata shows the graph with follows; show lists the hosts.
    let (ok, out, err) = ox(t.path(), &dir, &["flake", "metadata"]);
    assert!(ok, "{}", err);
    assert!(out.contains("hyprland follows input 'hyprland'"), "{}", out);
    assert!(out.contains("Description:   A homelab fleet"), "{}", out);
    let (ok, out, err) = ox(t.path(), &dir, &["flake", "metadata", "--json"]);
    assert!(ok, "{}", err);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["locks"], lock);
    let (ok, out, err) = ox(t.path(), &dir, &["flake", "show"]);
    assert!(ok, "{}", err);
    assert!(out.contains("brunnen: ox system configuration"), "{}", out);
    assert!(out.contains("default: overlay"), "{}", out);
}

#[test]
fn flake_update_pins_until_asked_and_reports_changes() {
    let t = Scratch::new("flake-cli-update");
    let w = t.path();
    sh(
        w,
        r#"mkdir dep root && cd dep && git init -q -b main
echo '{ outputs = { self }: { v = 1; }; }' > flake.nix && git add . && GIT_COMMITTER_DATE=2024-01-02T00:00:00Z git commit -qm one
cd ../root && cat > flake.nix <<EOF
{ inputs.dep.url = "git+file://$PWD/../dep"; outputs = { self, dep }: { v = dep.v; }; }
EOF"#,
    );
    let root = w.join("root");
    let (ok, out, err) = ox(w, &root, &["flake", "lock"]);
    assert!(ok, "{}", err);
    assert!(out.contains("• Added input 'dep'"), "{}", out);
    let first = std::fs::read_to_string(root.join("flake.lock")).unwrap();

    sh(
        &w.join("dep"),
        "echo '{ outputs = { self }: { v = 2; }; }' > flake.nix && git commit -qam two",
    );
    // Pinned: locking again and evaluating keep the old revision.
    let (ok, out, err) = ox(w, &root, &["flake", "lock"]);
    assert!(ok, "{}", err);
    assert_eq!(out, "");
    assert_eq!(
        std::fs::read_to_string(root.join("flake.lock")).unwrap(),
        first
    );
    let (ok, out, err) = ox(w, &root, &["eval", "--flake", ".#v"]);
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "1");

    let (ok, out, err) = ox(w, &root, &["flake", "update", "nope"]);
    assert!(!ok);
    assert!(err.contains("no input 'nope'"), "{}", err);

    let (ok, out2, err) = ox(w, &root, &["flake", "update", "dep"]);
    assert!(ok, "{}", err);
    assert!(out2.contains("• Updated input 'dep'"), "{}", out2);
    assert!(out2.contains(" → 'git+file://"), "{}", out2);
    let (ok, out3, _) = ox(w, &root, &["eval", "--flake", ".#v"]);
    assert!(ok);
    assert_eq!(out3.trim(), "2");
    let (ok, out4, err) = ox(w, &root, &["flake", "update"]);
    assert!(ok, "{}", err);
    assert!(out4.contains("nothing changed"), "{}{}", out, out4);
}

#[test]
fn relative_path_inputs_follow_the_flake_tree() {
    let t = Scratch::new("flake-cli-relative");
    let dir = homelab(t.path());
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &["eval", "--flake", ".#inputs.hyprland.version"],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"0.54.2\"");
    let before = std::fs::read_to_string(dir.join("flake.lock")).unwrap();
    // Edit the vendored compositor: the next evaluation sees it and the
    // lock records the new tree, with no `ox flake update`.
    let f = dir.join("vendor/hyprland/flake.nix");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("\"0.54.2\"", "\"0.55.0\"");
    std::fs::write(&f, text).unwrap();
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &["eval", "--flake", ".#inputs.hy3.inputs.hyprland.version"],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"0.55.0\"");
    let after = std::fs::read_to_string(dir.join("flake.lock")).unwrap();
    assert_ne!(before, after);
    let (ok, out, err) = ox(t.path(), &dir, &["flake", "lock"]);
    assert!(ok, "{}", err);
    assert_eq!(out, "", "already up to date");
}

#[test]
fn ox_system_evaluates_a_host_with_special_args() {
    let t = Scratch::new("flake-cli-oxsystem");
    let dir = t.join("fleet");
    std::fs::create_dir_all(dir.join("hosts/h1")).unwrap();
    std::fs::write(
        dir.join("flake.nix"),
        r#"{
  outputs = { self, ox }: {
    oxConfigurations.h1 = ox.lib.oxSystem {
      system = "x86_64-linux";
      specialArgs = { greeting = "from specialArgs"; };
      modules = [ ./hosts/h1 ];
    };
  };
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("hosts/h1/default.nix"),
        "{ greeting, lib, ... }: { networking.hostName = \"h1\"; environment.etc.motd.text = greeting; }\n",
    )
    .unwrap();
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--flake",
            ".#oxConfigurations.h1.config.networking.hostName",
        ],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"h1\"");
    let (ok, out, err) = ox(
        t.path(),
        &dir,
        &[
            "eval",
            "--flake",
            ".#oxConfigurations.h1.config.environment.etc.motd.text",
        ],
    );
    assert!(ok, "{}", err);
    assert_eq!(out.trim(), "\"from specialArgs\"");
    // The implicit ox input is in the lock, pinned to this ox.
    let lock = std::fs::read_to_string(dir.join("flake.lock")).unwrap();
    assert!(lock.contains("\"type\": \"ox\""), "{}", lock);
}
