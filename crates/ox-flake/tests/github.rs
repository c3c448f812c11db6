//! `github:` inputs against a loopback stand-in for GitHub (the API's
//! commit lookup and the archive download): locking records the rev and
//! narHash; afterwards the input works with no server at all as long as
//! the locked tree is in the store, and fails clearly once it is not.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use ox_flake::{LockMode, Session, Settings};
use ox_testhost::testsupport::Scratch;

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serve `n` requests: the commit API and the archive.
fn serve(
    listener: TcpListener,
    archive: Vec<u8>,
    n: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(n) {
            let mut s = stream.unwrap();
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.push(path.clone());
            let (status, body): (&str, Vec<u8>) = if path == "/repos/hyprwm/hy3/commits/v1" {
                ("200 OK", format!("{{\"sha\":\"{}\"}}", REV).into_bytes())
            } else if path == format!("/hyprwm/hy3/archive/{}.tar.gz", REV) {
                ("200 OK", archive.clone())
            } else {
                ("404 Not Found", b"no".to_vec())
            };
            write!(
                s,
                "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                status,
                body.len()
            )
            .unwrap();
            s.write_all(&body).unwrap();
        }
        seen
    })
}

fn settings(work: &Path, base: &str) -> Settings {
    let mut s = Settings::from_env(None);
    s.store_dir = work.join("store");
    s.fetch.github_api = base.to_string();
    s.fetch.github_base = base.to_string();
    s
}

#[test]
fn github_input_locks_then_works_offline_from_the_store() {
    let scratch = Scratch::new("flake-github");
    let work = scratch.path().to_path_buf();
    let sh = |script: &str| {
        let ok = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(&work)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{}", script);
    };
    sh(r#"mkdir -p src/hy3-0123456 root
echo '{ outputs = { self }: { plugin = "hy3"; }; }' > src/hy3-0123456/flake.nix
touch -d @1700000000 src/hy3-0123456/flake.nix src/hy3-0123456
tar -C src -czf hy3.tar.gz hy3-0123456
echo '{ inputs.hy3.url = "github:hyprwm/hy3/v1"; outputs = { self, hy3 }: { p = hy3.plugin; rev = hy3.rev; }; }' > root/flake.nix"#);
    let archive = std::fs::read(work.join("hy3.tar.gz")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = serve(listener, archive, 2);

    let root = work.join("root");
    let mut s = Session::new(settings(&work, &base)).unwrap();
    let flake = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Write).unwrap();
    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        vec![
            "/repos/hyprwm/hy3/commits/v1".to_string(),
            format!("/hyprwm/hy3/archive/{}.tar.gz", REV)
        ]
    );
    let node = &flake.lock.nodes["hy3"];
    let locked = node.locked.as_ref().unwrap();
    assert_eq!(locked.str("rev"), Some(REV));
    assert_eq!(locked.int("lastModified"), Some(1700000000));
    assert_eq!(locked.str("owner"), Some("hyprwm"));
    let orig = node.original.as_ref().unwrap();
    assert_eq!(orig.to_url(), "github:hyprwm/hy3/v1");
    // narHash equals Nix's hash of the unpacked tree.
    if let Ok(o) = Command::new("nix-hash")
        .args(["--type", "sha256"])
        .arg(work.join("src/hy3-0123456"))
        .output()
    {
        if o.status.success() {
            let hex = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let h = ox_store::Hash::parse(locked.str("narHash").unwrap(), None).unwrap();
            assert_eq!(h.to_base16(), hex);
        }
    }

    // No server any more: the locked tree comes from the store.
    let closed = "http://127.0.0.1:9";
    let mut s = Session::new(settings(&work, closed)).unwrap();
    let flake = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Check).unwrap();
    let v = ox_flake::flake_value(&mut s, &flake).unwrap();
    let p = ox_flake::select(&mut s, v.clone(), &["p"]).unwrap();
    assert_eq!(ox_eval::print::print_value(&p), "\"hy3\"");
    let r = ox_flake::select(&mut s, v, &["rev"]).unwrap();
    assert_eq!(ox_eval::print::print_value(&r), format!("\"{}\"", REV));

    // Without the store copy and without network: a clear error.
    sh("chmod -R u+w store && rm -rf store");
    let mut s = Session::new(settings(&work, closed)).unwrap();
    let flake = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Check).unwrap();
    let v = ox_flake::flake_value(&mut s, &flake).unwrap();
    let e = ox_flake::select(&mut s, v, &["p"]).unwrap_err().to_string();
    assert!(
        e.contains("cannot fetch input 'github:hyprwm/hy3/"),
        "{}",
        e
    );
    assert!(
        e.contains("github inputs need network access the first time"),
        "{}",
        e
    );
}
