//! MD5 (RFC 1321) and SHA-1 (FIPS 180-1) digests for Artifactory's
//! `X-Checksum-MD5` / `X-Checksum-Sha1` upload headers. Written by hand so the
//! xtask's cold build does not pull in a crypto crate; neither is used for
//! security, only to let the server verify the upload.

/// Lowercase hex MD5 of `data`, as `md5sum` prints it.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5(data))
}

/// Lowercase hex SHA-1 of `data`, as `sha1sum` prints it.
pub fn sha1_hex(data: &[u8]) -> String {
    hex(&sha1(data))
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

/// Feeds `data` plus the common MD5/SHA-1 padding (0x80, zeros, 64-bit bit
/// length in the given byte order) to `block` one 64-byte block at a time.
fn for_each_padded_block(data: &[u8], big_endian_len: bool, mut block: impl FnMut(&[u8; 64])) {
    let mut chunks = data.chunks_exact(64);
    for c in &mut chunks {
        let mut b = [0u8; 64];
        b.copy_from_slice(c);
        block(&b);
    }
    let rest = chunks.remainder();
    let bits = (data.len() as u64).wrapping_mul(8);
    let len_bytes = if big_endian_len {
        bits.to_be_bytes()
    } else {
        bits.to_le_bytes()
    };
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    // One extra block when the 0x80 and the length do not fit after the rest.
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&len_bytes);
    for c in tail[..tail_len].chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(c);
        block(&b);
    }
}

fn md5(data: &[u8]) -> [u8; 16] {
    // RFC 1321 3.4: per-round shift amounts and T[i] = floor(2^32 * |sin(i + 1)|).
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    const T: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
        0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
        0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
        0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
        0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
        0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
        0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
        0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for_each_padded_block(data, false, |block| {
        let mut m = [0u32; 16];
        for (w, c) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(T[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    });
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    for_each_padded_block(data, true, |block| {
        let mut w = [0u32; 80];
        for (x, c) in w.iter_mut().zip(block.chunks_exact(4)) {
            *x = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, &wt) in w.iter().enumerate() {
            let (f, k) = match t / 20 {
                0 => ((b & c) | (!b & d), 0x5a827999),
                1 => (b ^ c ^ d, 0x6ed9eba1),
                2 => ((b & c) | (b & d) | (c & d), 0x8f1bbcdc),
                _ => (b ^ c ^ d, 0xca62c1d6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wt);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    });
    let mut out = [0u8; 20];
    for (o, w) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    #[test]
    fn rfc1321_test_suite() {
        let cases = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(md5_hex(input.as_bytes()), want, "md5({input:?})");
        }
    }

    #[test]
    fn fips180_test_vectors() {
        let cases = [
            ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ];
        for (input, want) in cases {
            assert_eq!(sha1_hex(input.as_bytes()), want, "sha1({input:?})");
        }
        // FIPS 180-1 appendix C: one million 'a'.
        let million = vec![b'a'; 1_000_000];
        assert_eq!(
            sha1_hex(&million),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        assert_eq!(md5_hex(&million), "7707d6ae4e027c70eea2a935c2296f21");
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

    /// Runs `tool` (md5sum/sha1sum) once over all files; returns digests in order.
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
    fn agrees_with_md5sum_and_sha1sum() {
        let dir = std::env::temp_dir().join(format!(
            "checksum-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir(&dir).expect("create temp dir");
        let mut inputs: Vec<Vec<u8>> = (0..200).map(|n| bytes(n, n as u64 + 7)).collect();
        inputs.push(bytes(1_048_583, 42)); // ~1 MB, not a multiple of 64
        let files: Vec<PathBuf> = inputs
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let p = dir.join(format!("{i}.bin"));
                std::fs::write(&p, data).expect("write input");
                p
            })
            .collect();
        let md5s = tool_digests("md5sum", &files);
        let sha1s = tool_digests("sha1sum", &files);
        let _ = std::fs::remove_dir_all(&dir);
        match md5s {
            Some(want) => {
                assert_eq!(want.len(), inputs.len());
                for (data, w) in inputs.iter().zip(&want) {
                    assert_eq!(&md5_hex(data), w, "md5 of {} bytes", data.len());
                }
            }
            None => crate::test_support::skip_or_fail("md5sum (coreutils) not found"),
        }
        match sha1s {
            Some(want) => {
                assert_eq!(want.len(), inputs.len());
                for (data, w) in inputs.iter().zip(&want) {
                    assert_eq!(&sha1_hex(data), w, "sha1 of {} bytes", data.len());
                }
            }
            None => crate::test_support::skip_or_fail("sha1sum (coreutils) not found"),
        }
    }
}
