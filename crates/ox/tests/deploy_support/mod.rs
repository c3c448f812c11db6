//! What the `ox deploy` tests share: a fleet of bookworm containers,
//! each in a network namespace of its own on a bridge of the test's own,
//! with sshd and a generated client key; the flake they are deployed
//! from; running `ox deploy` against them.

#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use ox_testhost::testsupport::{ox_command, repo, Scratch};

/// Removes the test's bridge (Netns leaves bridges in place).
pub struct Bridge(pub String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

pub const FLAKE: &str = r#"{
  outputs = { self, ox }: {
    oxConfigurations = builtins.listToAttrs (map (f: {
      name = builtins.substring 0 (builtins.stringLength f - 4) f;
      value = ox.lib.oxSystem {
        system = "x86_64-linux";
        modules = [ ./common.nix (./hosts + "/${f}") ];
      };
    }) (builtins.attrNames (builtins.readDir ./hosts)));
  };
}
"#;

/// The part every host shares; `gen` marks the generation, `extra` is
/// Nix attributes added to the module.
pub fn common(gen: &str, extra: &str) -> String {
    format!(
        r#"{{ lib, pkgs, ... }}: {{
  environment.systemPackages = lib.mkForce [ ];
  # a built path the toplevel links to: part of the closure that is copied
  environment.etc."deploy-text".source = pkgs.writeText "deploy-text" "from the store\n";
  # a file of the flake itself
  environment.etc."deploy-file".source = ./deploy-file.txt;
  # checked over the confirming connection before every switch counts
  deployment.healthChecks = [ "systemctl is-active deploy-static.service" ];
  services.openssh.enable = true;
  services.openssh.hostKeys = [ {{ type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }} ];
  environment.etc."deploy-generation".text = "{gen}\n";
  systemd.services."deploy-gen-{gen}" = {{
    wantedBy = [ "multi-user.target" ];
    serviceConfig = {{ Type = "oneshot"; RemainAfterExit = true; }};
    script = "true";
  }};
  # the same in every generation: its script's store path is never copied twice
  systemd.services.deploy-static = {{
    wantedBy = [ "multi-user.target" ];
    serviceConfig = {{ Type = "oneshot"; RemainAfterExit = true; }};
    script = "echo static";
  }};
  {extra}
}}
"#
    )
}

pub fn host_nix(name: &str, addr: &str, tags: &str, extra: &str) -> String {
    format!(
        "{{ ... }}: {{\n  networking.hostName = \"{name}\";\n  deployment.targetHost = \"{addr}\";\n  \
         deployment.tags = [ {tags} ];\n  {extra}\n}}\n"
    )
}

pub struct Deployer {
    pub work: PathBuf,
    pub flake: PathBuf,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Deployer {
    pub fn deploy(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let mut c = self.command(args);
        c.arg("--json");
        let t = std::time::Instant::now();
        let out = c.output().expect("run ox deploy");
        eprintln!(
            "ox deploy {args:?} took {:.1} s, exit {}\n--- stderr:\n{}",
            t.elapsed().as_secs_f64(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out, json)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = ox_command(Path::new(env!("CARGO_BIN_EXE_ox")));
        c.arg("deploy")
            .arg("--flake")
            .arg(&self.flake)
            .arg("-I")
            .arg(format!("ox={}", repo().join("nix").display()))
            .arg("--store-root")
            .arg(self.work.join("root"))
            .arg("--ssh-option")
            .arg(format!("IdentityFile={}", self.key.display()))
            .arg("--ssh-option")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg("--ssh-option")
            .arg("ConnectTimeout=3")
            .args(args)
            .env_remove("OX_STATE_DIR");
        c
    }
}

pub fn host_report<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["hosts"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["host"] == name))
        .unwrap_or_else(|| panic!("no report for {name} in {j:#}"))
}

/// Booted containers with sshd that accept `key`; dropped in order
/// (containers, then namespaces, then the bridge).
pub struct Fleet {
    pub hosts: Vec<ox_testhost::Host>,
    nets: Vec<ox_testhost::Netns>,
    _bridge: Bridge,
    pub net: u32,
    pub key: PathBuf,
    pub pubkey: String,
    pub known: PathBuf,
    pub work: Scratch,
}

impl Fleet {
    /// `count` hosts at 10.234.NET.11, .12, …; `known_hosts` lists their
    /// real host keys.
    pub fn boot(tag: &str, count: u32) -> Fleet {
        static N: AtomicU32 = AtomicU32::new(0);
        let slot = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let work = Scratch::new(tag);
        let key = work.join("id");
        ox_testhost::testsupport::ssh_keygen(&key);
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        // unique per process and per fleet of that process
        let net = 100 + ((pid + 37 * slot) % 100);
        let bridge = Bridge(format!("oxdbr{}{slot}", pid % 100000));
        let addr = |n: u32| format!("10.234.{net}.{n}");
        let mut nets = Vec::new();
        let mut hosts = Vec::new();
        for i in 0..count {
            let ns = ox_testhost::Netns::create(
                &format!("oxd-{pid}-{slot}-{i}"),
                &bridge.0,
                &format!("{}/24", addr(1)),
                &format!("{}/24", addr(11 + i)),
                &addr(1),
            )
            .expect("netns");
            let host = ox_testhost::Host::boot(ox_testhost::HostOpts {
                prefix: "oxdep".into(),
                network: ox_testhost::Network::Namespace(ns.path()),
                root_authorized_keys: Some(pubkey.clone()),
                ..Default::default()
            })
            .expect("boot test host");
            nets.push(ns);
            hosts.push(host);
        }
        let known = work.join("known_hosts");
        let f = Fleet {
            hosts,
            nets,
            _bridge: bridge,
            net,
            key,
            pubkey,
            known,
            work,
        };
        f.write_known_hosts();
        f
    }

    /// The address of host `i` (0-based).
    pub fn addr(&self, i: usize) -> String {
        format!("10.234.{}.{}", self.net, 11 + i)
    }

    /// An address on the bridge where nothing answers.
    pub fn nowhere(&self) -> String {
        format!("10.234.{}.99", self.net)
    }

    /// `address key` of host `i`'s ed25519 host key.
    pub fn hostkey(&self, i: usize) -> String {
        std::fs::read_to_string(self.hosts[i].path("/etc/ssh/ssh_host_ed25519_key.pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn write_known_hosts(&self) {
        let text: String = (0..self.hosts.len())
            .map(|i| format!("{} {}\n", self.addr(i), self.hostkey(i)))
            .collect();
        std::fs::write(&self.known, text).unwrap();
    }

    /// A flake directory `fleet` with FLAKE and the flake's own file.
    pub fn flake(&self) -> PathBuf {
        let flake = self.work.join("fleet");
        std::fs::create_dir_all(flake.join("hosts")).unwrap();
        std::fs::write(flake.join("flake.nix"), FLAKE).unwrap();
        std::fs::write(flake.join("deploy-file.txt"), "from the flake\n").unwrap();
        flake
    }

    pub fn deployer(&self, flake: &Path) -> Deployer {
        Deployer {
            work: self.work.path().to_path_buf(),
            flake: flake.to_path_buf(),
            key: self.key.clone(),
            known_hosts: self.known.clone(),
        }
    }
}
