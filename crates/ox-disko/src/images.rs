//! Disk images instead of disks: each declared disk becomes a sparse
//! `<dir>/<imageName>.raw` of `imageSize` on a loop device of its own,
//! and the layout is pointed at those devices. [`Images::release`]
//! unmounts what the plan mounted and detaches the loop devices, leaving
//! finished images.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::layout::Layout;
use crate::Error;

/// `2G` → bytes (K, M, G, T are powers of 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        'T' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Attached image files: (disk name, loop device, file).
pub struct Images {
    pub attached: Vec<(String, String, PathBuf)>,
}

fn run(argv: &[&str]) -> Result<String, Error> {
    let o = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Step {
            cmd: argv.join(" "),
            status: format!("cannot start: {e}"),
            output: String::new(),
        })?;
    if !o.status.success() {
        return Err(Error::Step {
            cmd: argv.join(" "),
            status: o.status.to_string(),
            output: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

impl Images {
    /// Creates the image files (refusing ones that exist: they would be
    /// overwritten) and attaches them; returns the layout with each
    /// disk's `device` replaced by its loop device.
    pub fn attach(layout: &Layout, dir: &Path) -> Result<(Layout, Images), Error> {
        let mut images = Images {
            attached: Vec::new(),
        };
        let mut out = layout.clone();
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        for d in &mut out.disks {
            let name = d.image_name.clone().unwrap_or_else(|| d.name.clone());
            let size_s = d.image_size.clone().unwrap_or_else(|| "2G".into());
            let size = parse_size(&size_s).ok_or_else(|| {
                Error::Layout(format!(
                    "disk `{}`: imageSize `{size_s}` is not a size",
                    d.name
                ))
            })?;
            let file = dir.join(format!("{name}.raw"));
            if file.exists() {
                images.release(None);
                return Err(Error::ImageExists {
                    disk: d.name.clone(),
                    file: file.display().to_string(),
                });
            }
            let created = std::fs::File::create_new(&file).and_then(|f| f.set_len(size));
            if let Err(e) = created {
                images.release(None);
                return Err(Error::Io {
                    path: file.display().to_string(),
                    source: e,
                });
            }
            let file_s = file.display().to_string();
            match run(&["losetup", "--find", "--show", &file_s]) {
                Ok(dev) => {
                    images.attached.push((d.name.clone(), dev.clone(), file));
                    d.device = dev;
                }
                Err(e) => {
                    images.release(None);
                    return Err(e);
                }
            }
        }
        Ok((out, images))
    }

    /// Unmounts everything mounted from the images (under `root` or
    /// anywhere), turns their swap off, detaches the loop devices.
    /// Errors are reported, not fatal: release runs on failure paths.
    pub fn release(&mut self, out: Option<&mut dyn FnMut(&str)>) {
        let mut msgs = Vec::new();
        for (_, dev, _) in &self.attached {
            let ours = |src: &str| src == dev || src.starts_with(&format!("{dev}p"));
            let mut targets: Vec<String> = crate::probe::mounts()
                .into_iter()
                .filter(|(s, _)| ours(s))
                .map(|(_, t)| t)
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            targets.dedup();
            for t in targets {
                if let Err(e) = run(&["umount", &t]) {
                    msgs.push(e.to_string());
                }
            }
            for s in crate::probe::active_swaps() {
                if ours(&s) {
                    let _ = run(&["swapoff", &s]);
                }
            }
            let _ = run(&["partx", "-d", dev]);
            if let Err(e) = run(&["losetup", "-d", dev]) {
                msgs.push(e.to_string());
            }
        }
        self.attached.clear();
        if let Some(out) = out {
            for m in msgs {
                out(&format!("warning: {m}"));
            }
        }
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        self.release(None);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        use super::parse_size;
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("G"), None);
        assert_eq!(parse_size("2P"), None);
    }
}
