//! Shamir secret sharing over GF(2^8) in the layout sops uses (a fork
//! of HashiCorp Vault's): each part is the byte-wise evaluations of
//! random polynomials at x = i+1, followed by that x byte.

use rand::RngCore;

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut r = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    r
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8)
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            r = gf_mul(r, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    r
}

/// Split `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>, String> {
    if !(2..=255).contains(&threshold) || parts < threshold || parts > 255 {
        return Err(format!(
            "Shamir split needs 2 <= threshold ({threshold}) <= parts ({parts}) <= 255"
        ));
    }
    let mut rng = rand::thread_rng();
    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|_| Vec::with_capacity(secret.len() + 1))
        .collect();
    let mut coeffs = vec![0u8; threshold - 1];
    for &s in secret {
        rng.fill_bytes(&mut coeffs);
        for (i, part) in out.iter_mut().enumerate() {
            let x = (i + 1) as u8;
            // Horner: s + c1 x + c2 x^2 ...
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = gf_mul(y, x) ^ c;
            }
            y = gf_mul(y, x) ^ s;
            part.push(y);
        }
    }
    for (i, part) in out.iter_mut().enumerate() {
        part.push((i + 1) as u8);
    }
    Ok(out)
}

/// Recover the secret from shares made by [`split`] (Lagrange at 0).
pub fn combine(parts: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    if parts.len() < 2 {
        return Err("Shamir combine needs at least two parts".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("Shamir parts have different or too short lengths".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate Shamir part".into());
        }
    }
    let mut secret = Vec::with_capacity(len - 1);
    #[allow(clippy::needless_range_loop)]
    for b in 0..len - 1 {
        let mut acc = 0u8;
        for (i, &xi) in xs.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 - xj) / (xi - xj); subtraction is xor
                    basis = gf_mul(basis, gf_mul(xj, gf_inv(xi ^ xj)));
                }
            }
            acc ^= gf_mul(parts[i][b], basis);
        }
        secret.push(acc);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_subset_recovers() {
        let secret: Vec<u8> = (0..32).collect();
        let parts = split(&secret, 3, 2).unwrap();
        assert_eq!(parts[0].len(), 33);
        assert_eq!(parts[2][32], 3);
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            assert_eq!(
                combine(&[parts[a].clone(), parts[b].clone()]).unwrap(),
                secret
            );
        }
        // a single part must not equal the secret bytes
        assert_ne!(&parts[0][..32], &secret[..]);
    }

    #[test]
    fn inverse_is_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1);
        }
    }
}
