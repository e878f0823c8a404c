//! MD5, SHA-1 and SHA-256 as Artifactory and glance use them: the
//! `X-Checksum-Md5` / `X-Checksum-Sha1` / `X-Checksum-Sha256` upload headers,
//! glance's `checksum`. The digests come from RustCrypto's `md-5`, `sha1` and
//! `sha2`; this module is the thin face the rest of the xtask calls, in
//! lowercase hex as `md5sum` prints it. None of it is for security,
//! only to let both ends verify a transfer.

use md5::Md5;
use sha1::Sha1;
use sha2::Digest;

/// Lowercase hex MD5 of `data`, as `md5sum` prints it.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

/// Lowercase hex SHA-1 of `data`, as `sha1sum` prints it.
pub fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::digest(data))
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
mod tests {
    use super::*;

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
    }
}
