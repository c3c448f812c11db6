//! HTTP(S) GET for tarball, file and github inputs.

use std::io::Read;

/// Download `url`; the error says why (no network, HTTP status, …).
pub fn get(url: &str) -> Result<Vec<u8>, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(300))
        .build();
    let resp = agent
        .get(url)
        .set("User-Agent", concat!("ox/", env!("CARGO_PKG_VERSION")))
        .call()
        .map_err(|e| match e {
            ureq::Error::Status(code, _) => format!("GET {}: HTTP status {}", url, code),
            ureq::Error::Transport(t) => format!("GET {}: no network connection ({})", url, t),
        })?;
    let mut buf = Vec::new();
    resp.into_reader()
        .take(1 << 31)
        .read_to_end(&mut buf)
        .map_err(|e| format!("GET {}: {}", url, e))?;
    Ok(buf)
}
