//! MD5, SHA-1 and SHA-256 as Artifactory and glance use them: the
//! `X-Checksum-Md5` / `X-Checksum-Sha1` / `X-Checksum-Sha256` upload headers,
//! glance's `checksum`. The digests come from three small crates without
//! dependencies, `md5`, `sha1_smol` and `hmac-sha256` (built optimised even
//! in the dev profile, see the workspace's Cargo.toml); this module is the
//! thin face the rest of the xtask calls, in lowercase hex as `md5sum`
//! prints it. Files are hashed as a stream, so an image of many gigabytes
//! never sits in memory. None of it is for security, only to let both ends
//! verify a transfer.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha1_smol::Sha1;

/// How much of a file is read at a time.
const CHUNK: usize = 1 << 20;

/// Lowercase hex MD5 of `data`, as `md5sum` prints it.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5::compute(data).0)
}

/// Lowercase hex SHA-1 of `data`, as `sha1sum` prints it.
pub fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::from(data).digest().bytes())
}

/// The three digests of one file, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

/// The MD5 of a file, read once in chunks.
pub fn file_md5(path: &Path) -> io::Result<String> {
    let mut md5 = md5::Context::new();
    stream(path, |chunk| md5.consume(chunk))?;
    Ok(hex(&md5.finalize().0))
}

/// MD5, SHA-1 and SHA-256 of a file in one read.
pub fn file_sums(path: &Path) -> io::Result<Sums> {
    let (mut md5, mut sha1, mut sha256) =
        (md5::Context::new(), Sha1::new(), hmac_sha256::Hash::new());
    stream(path, |chunk| {
        md5.consume(chunk);
        sha1.update(chunk);
        sha256.update(chunk);
    })?;
    Ok(Sums {
        md5: hex(&md5.finalize().0),
        sha1: hex(&sha1.digest().bytes()),
        sha256: hex(&sha256.finalize()),
    })
}

fn stream(path: &Path, mut take: impl FnMut(&[u8])) -> io::Result<()> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        take(&buffer[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the oracles are coreutils' own md5sum, sha1sum, sha256sum
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    #[test]
    fn known_vectors() {
        // RFC 1321's suite and FIPS 180's: the crates are wired up right.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"message digest"),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&hmac_sha256::Hash::hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Deterministic bytes (xorshift64*), so failures reproduce.
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// Runs `tool` (md5sum, sha1sum, sha256sum) once over all files; the digests in order.
    fn tool_digests(tool: &str, files: &[PathBuf]) -> Option<Vec<String>> {
        let out = Command::new(tool).args(files).output().ok()?;
        assert!(out.status.success(), "{tool} failed");
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
                .collect(),
        )
    }

    #[test]
    fn files_agree_with_coreutils_and_with_the_one_shot_digests() {
        let dir = std::env::temp_dir().join(format!(
            "checksum-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir(&dir).expect("create temp dir");
        // Empty, small, and more than one chunk, not a multiple of it.
        let inputs = [bytes(0, 1), bytes(63, 2), bytes(CHUNK * 2 + 4097, 3)];
        let files: Vec<PathBuf> = inputs
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let p = dir.join(format!("{i}.bin"));
                std::fs::write(&p, data).expect("write input");
                p
            })
            .collect();
        let mut sums = Vec::new();
        for (file, data) in files.iter().zip(&inputs) {
            let got = file_sums(file).unwrap();
            assert_eq!(file_md5(file).unwrap(), got.md5);
            assert_eq!(got.md5, md5_hex(data));
            assert_eq!(got.sha1, sha1_hex(data));
            sums.push(got);
        }
        let tools = [
            ("md5sum", tool_digests("md5sum", &files)),
            ("sha1sum", tool_digests("sha1sum", &files)),
            ("sha256sum", tool_digests("sha256sum", &files)),
        ];
        let _ = std::fs::remove_dir_all(&dir);
        for (tool, want) in tools {
            let Some(want) = want else {
                crate::test_support::skip_or_fail(&format!("{tool} (coreutils) not found"));
                continue;
            };
            for (got, want) in sums.iter().zip(&want) {
                let got = match tool {
                    "md5sum" => &got.md5,
                    "sha1sum" => &got.sha1,
                    _ => &got.sha256,
                };
                assert_eq!(got, want, "{tool}");
            }
        }
    }
}
