//! Choosing a status list index for a new credential (spec section 2.1 `statusListIndex`:
//! "Implementations SHOULD assign indexes randomly"). Which indexes are taken lives in the
//! store; this is the pure choice.

use rand_core::RngCore;

/// Random draws tried before falling back to a scan. With a list at most 90 % full, 32 misses in
/// a row happen with probability below 0.9^32 ≈ 3.4 %, so the scan is reserved for nearly full
/// lists.
pub const RANDOM_PROBES: u32 = 32;

/// Picks an index in `0..list_len` for which `is_taken` is false, or `None` when every index is
/// taken (the caller then opens a new list).
///
/// Indexes are drawn uniformly at random so the position reveals neither the issuance order nor
/// how full the list is. After [`RANDOM_PROBES`] misses it scans, wrapping, from a random
/// offset, so a nearly full list costs at most one pass instead of an unbounded number of draws.
pub fn pick_free_index<R: RngCore + ?Sized>(
    list_len: u32,
    mut is_taken: impl FnMut(u32) -> bool,
    rng: &mut R,
) -> Option<u32> {
    if list_len == 0 {
        return None;
    }
    for _ in 0..RANDOM_PROBES {
        let candidate = uniform(rng, list_len);
        if !is_taken(candidate) {
            return Some(candidate);
        }
    }
    let start = uniform(rng, list_len);
    (0..list_len)
        .map(|step| {
            // start + step < 2 * list_len <= 2^33: no overflow in u64.
            ((u64::from(start) + u64::from(step)) % u64::from(list_len)) as u32
        })
        .find(|&candidate| !is_taken(candidate))
}

/// A uniform draw from `0..n` (`n > 0`), by rejection so that no index is favoured.
fn uniform<R: RngCore + ?Sized>(rng: &mut R, n: u32) -> u32 {
    // Values below `threshold` would make the low residues more likely; draw again.
    let threshold = n.wrapping_neg() % n;
    loop {
        let r = rng.next_u32();
        if r >= threshold {
            return r % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use std::cell::Cell;
    use std::collections::HashSet;

    /// A deterministic generator (SplitMix64) so failures reproduce.
    struct SplitMix(u64);

    impl RngCore for SplitMix {
        fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dest);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    fn fill(len: u32, rng: &mut dyn RngCore) -> Vec<u32> {
        let mut taken = vec![false; len as usize];
        let mut order = Vec::new();
        while let Some(i) = pick_free_index(len, |i| taken[i as usize], rng) {
            assert!(!taken[i as usize], "index {i} handed out twice");
            taken[i as usize] = true;
            order.push(i);
            assert!(order.len() <= len as usize);
        }
        order
    }

    #[test]
    fn every_index_is_handed_out_exactly_once_then_none() {
        for len in [1u32, 2, 7, 64, 1000, 4096] {
            let order = fill(len, &mut SplitMix(u64::from(len)));
            assert_eq!(order.len(), len as usize);
            let unique: HashSet<u32> = order.iter().copied().collect();
            assert_eq!(unique.len(), len as usize);
            assert!(order.iter().all(|&i| i < len));
        }
        let order = fill(10_000, &mut OsRng);
        assert_eq!(order.iter().copied().collect::<HashSet<_>>().len(), 10_000);
    }

    #[test]
    fn full_and_empty_lists_give_none() {
        assert_eq!(pick_free_index(0, |_| false, &mut OsRng), None);
        assert_eq!(pick_free_index(131_072, |_| true, &mut OsRng), None);
    }

    #[test]
    fn the_last_free_index_is_found_with_one_scan() {
        let len = 131_072;
        let free = 98_765;
        let calls = Cell::new(0u32);
        let got = pick_free_index(
            len,
            |i| {
                calls.set(calls.get() + 1);
                i != free
            },
            &mut SplitMix(7),
        );
        assert_eq!(got, Some(free));
        // The random probes plus at most one pass over the list.
        assert!(calls.get() <= RANDOM_PROBES + len, "{} calls", calls.get());
    }

    #[test]
    fn an_empty_list_is_answered_by_the_first_draw() {
        let calls = Cell::new(0u32);
        let got = pick_free_index(
            131_072,
            |_| {
                calls.set(calls.get() + 1);
                false
            },
            &mut OsRng,
        );
        assert!(got.is_some_and(|i| i < 131_072));
        assert_eq!(calls.get(), 1);
    }

    /// Early picks are spread over the list rather than packed at the front (herd privacy):
    /// the first 1,000 picks from a 131,072 list land in every eighth of it.
    #[test]
    fn picks_are_spread_over_the_list() {
        let len = 131_072u32;
        let mut taken = HashSet::new();
        let mut rng = SplitMix(42);
        let mut buckets = [0u32; 8];
        for _ in 0..1000 {
            let i = pick_free_index(len, |i| taken.contains(&i), &mut rng).unwrap();
            taken.insert(i);
            buckets[(i / (len / 8)) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (75..=175).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let mut rng = SplitMix(1);
        let mut seen = [false; 3];
        for _ in 0..300 {
            let v = uniform(&mut rng, 3);
            assert!(v < 3);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert!((0..100).all(|_| uniform(&mut rng, u32::MAX) < u32::MAX));
        assert!((0..100).all(|_| uniform(&mut rng, 1) == 0));
    }
}
