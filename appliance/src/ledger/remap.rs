//! Re-mapping after a redemption: the smallest-sufficient-bar rule of the asset-mapping note.
//!
//! Redeemed tokens are fragments of allocations spread over many bars. Burning them where they
//! happen to sit would leave slivers of free metal in every vault slot and no bar that can leave
//! the vault. Instead the fragments, of total `x`, are consolidated against one bar: the bar with
//! the smallest mass that is at least `x` (the lowest serial among equals). The redeemed assets'
//! allocations on that bar are burned first; what is still to burn comes off the same assets'
//! allocations on other bars (lowest serial first), and other allocations on the chosen bar move
//! into the room that frees. The chosen bar's allocation therefore drops by `min(x, allocated)`,
//! and a bar left with no allocation can be released.
//!
//! Every asset keeps its mapped total except the redeemed ones, which lose exactly what was
//! redeemed; no bar's mass changes and no bar ends up above its mass; no entry goes negative and
//! empty entries disappear.

use std::collections::BTreeMap;

use lightclient::keys::AssetId;

/// Mapped amounts, keyed by (bar serial, asset), so one bar's entries are adjacent.
pub type Allocations = BTreeMap<(String, AssetId), u128>;

/// The outcome of a consolidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consolidation {
    /// The allocations after the burn and the moves.
    pub allocations: Allocations,
    /// The bar the fragments were consolidated against.
    pub bar: String,
    /// Whether that bar carries nothing any more and can leave the vault.
    pub released: bool,
}

/// Why a redemption cannot be consolidated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemapError {
    /// Nothing (or only zero amounts) to redeem.
    #[error("nothing to redeem")]
    NothingRedeemed,
    /// More of an asset redeemed than the mapping allocates to it.
    #[error("{redeemed} of asset {asset} redeemed, but only {mapped} is mapped")]
    MoreThanMapped {
        /// The asset.
        asset: AssetId,
        /// Amount redeemed.
        redeemed: u128,
        /// Amount mapped.
        mapped: u128,
    },
    /// No mapped bar is as heavy as the fragments' total.
    #[error("no mapped bar has a mass of at least {total}; the heaviest has {heaviest}")]
    NoSufficientBar {
        /// The fragments' total.
        total: u128,
        /// The heaviest mapped bar's mass.
        heaviest: u128,
    },
    /// An allocation on a bar whose mass is not known.
    #[error("bar {0} is mapped but its mass is unknown")]
    UnknownBar(String),
    /// Amounts beyond u128.
    #[error("amounts overflow")]
    Overflow,
}

/// Applies the smallest-sufficient-bar rule: burns `redeemed` (per asset) out of `allocations`,
/// given each bar's mass.
pub fn consolidate(
    allocations: &Allocations,
    masses: &BTreeMap<String, u128>,
    redeemed: &BTreeMap<AssetId, u128>,
) -> Result<Consolidation, RemapError> {
    let total = redeemed
        .values()
        .try_fold(0u128, |sum, x| sum.checked_add(*x))
        .ok_or(RemapError::Overflow)?;
    if total == 0 {
        return Err(RemapError::NothingRedeemed);
    }
    for (asset, &amount) in redeemed {
        let mapped = allocations
            .iter()
            .filter(|((_, a), _)| a == asset)
            .try_fold(0u128, |sum, (_, x)| sum.checked_add(*x))
            .ok_or(RemapError::Overflow)?;
        if amount > mapped {
            return Err(RemapError::MoreThanMapped {
                asset: *asset,
                redeemed: amount,
                mapped,
            });
        }
    }
    let mut bars: BTreeMap<&str, u128> = BTreeMap::new();
    for (serial, _) in allocations.keys() {
        let mass = masses
            .get(serial)
            .ok_or_else(|| RemapError::UnknownBar(serial.clone()))?;
        bars.insert(serial, *mass);
    }
    let bar = bars
        .iter()
        .filter(|(_, mass)| **mass >= total)
        .min_by_key(|(serial, mass)| (**mass, **serial))
        .map(|(serial, _)| (*serial).to_string())
        .ok_or(RemapError::NoSufficientBar {
            total,
            heaviest: bars.values().copied().max().unwrap_or(0),
        })?;

    let mut next = allocations.clone();
    // Burn on the chosen bar first; note what must still come off elsewhere.
    let mut still_to_burn: BTreeMap<AssetId, u128> = BTreeMap::new();
    for (asset, &amount) in redeemed {
        let here = next.get(&(bar.clone(), *asset)).copied().unwrap_or(0);
        let burn = here.min(amount);
        set(&mut next, (bar.clone(), *asset), here.saturating_sub(burn));
        let rest = amount.saturating_sub(burn);
        if rest > 0 {
            still_to_burn.insert(*asset, rest);
        }
    }
    // Burn the rest elsewhere, lowest serial first, remembering the room freed on each bar.
    let mut freed: BTreeMap<String, u128> = BTreeMap::new();
    for (asset, mut rest) in still_to_burn {
        let sources: Vec<(String, u128)> = next
            .iter()
            .filter(|((serial, a), _)| *a == asset && *serial != bar)
            .map(|((serial, _), x)| (serial.clone(), *x))
            .collect();
        for (serial, held) in sources {
            if rest == 0 {
                break;
            }
            let burn = held.min(rest);
            rest = rest.saturating_sub(burn);
            set(
                &mut next,
                (serial.clone(), asset),
                held.saturating_sub(burn),
            );
            let room = freed.entry(serial).or_insert(0);
            *room = room.checked_add(burn).ok_or(RemapError::Overflow)?;
        }
    }
    // Move what is left on the chosen bar into the freed room.
    let on_bar: Vec<(AssetId, u128)> = next
        .range((bar.clone(), AssetId([0; 32]))..)
        .take_while(|((serial, _), _)| *serial == bar)
        .map(|((_, asset), x)| (*asset, *x))
        .collect();
    for (asset, mut left) in on_bar {
        for (serial, room) in &mut freed {
            if left == 0 {
                break;
            }
            let moved = left.min(*room);
            if moved == 0 {
                continue;
            }
            *room = room.saturating_sub(moved);
            left = left.saturating_sub(moved);
            let there = next.get(&(serial.clone(), asset)).copied().unwrap_or(0);
            let there = there.checked_add(moved).ok_or(RemapError::Overflow)?;
            set(&mut next, (serial.clone(), asset), there);
        }
        set(&mut next, (bar.clone(), asset), left);
    }
    let released = !next.keys().any(|(serial, _)| *serial == bar);
    Ok(Consolidation {
        allocations: next,
        bar,
        released,
    })
}

fn set(allocations: &mut Allocations, key: (String, AssetId), amount: u128) {
    if amount == 0 {
        allocations.remove(&key);
    } else {
        allocations.insert(key, amount);
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )]

    use super::*;
    use proptest::prelude::*;

    fn asset(n: u8) -> AssetId {
        AssetId([n; 32])
    }

    fn bars(list: &[(&str, u128)]) -> BTreeMap<String, u128> {
        list.iter().map(|(s, m)| ((*s).to_string(), *m)).collect()
    }

    fn allocs(list: &[(&str, u8, u128)]) -> Allocations {
        list.iter()
            .map(|(s, a, x)| (((*s).to_string(), asset(*a)), *x))
            .collect()
    }

    #[test]
    fn fragments_consolidate_against_the_smallest_sufficient_bar() {
        // Asset 1 on A (1000) and B (400); asset 2 fills C (500).
        let masses = bars(&[("A", 1000), ("B", 400), ("C", 500)]);
        let before = allocs(&[("A", 1, 1000), ("B", 1, 400), ("C", 2, 500)]);
        // 450 redeemed: C (500) is the smallest bar of at least 450.
        let out = consolidate(&before, &masses, &BTreeMap::from([(asset(1), 450)])).unwrap();
        assert_eq!(out.bar, "C");
        assert!(!out.released);
        // Asset 1 burns 450 on A (lowest serial); asset 2 moves 450 from C to A.
        assert_eq!(
            out.allocations,
            allocs(&[("A", 1, 550), ("A", 2, 450), ("B", 1, 400), ("C", 2, 50)])
        );
    }

    #[test]
    fn a_whole_bar_redeemed_is_released() {
        let masses = bars(&[("A", 1000), ("B", 400)]);
        let before = allocs(&[("A", 1, 1000), ("B", 1, 400)]);
        let out = consolidate(&before, &masses, &BTreeMap::from([(asset(1), 400)])).unwrap();
        assert_eq!(out.bar, "B");
        assert!(out.released);
        assert_eq!(out.allocations, allocs(&[("A", 1, 1000)]));
    }

    #[test]
    fn equal_masses_choose_the_lowest_serial() {
        let masses = bars(&[("B", 400), ("A", 400)]);
        let before = allocs(&[("A", 1, 400), ("B", 1, 400)]);
        let out = consolidate(&before, &masses, &BTreeMap::from([(asset(1), 100)])).unwrap();
        assert_eq!(out.bar, "A");
    }

    #[test]
    fn refusals_are_typed() {
        let masses = bars(&[("A", 400)]);
        let before = allocs(&[("A", 1, 300)]);
        assert_eq!(
            consolidate(&before, &masses, &BTreeMap::new()),
            Err(RemapError::NothingRedeemed)
        );
        assert_eq!(
            consolidate(&before, &masses, &BTreeMap::from([(asset(1), 301)])),
            Err(RemapError::MoreThanMapped {
                asset: asset(1),
                redeemed: 301,
                mapped: 300
            })
        );
        let two = allocs(&[("A", 1, 400), ("B", 1, 400)]);
        let masses = bars(&[("A", 400), ("B", 400)]);
        assert_eq!(
            consolidate(&two, &masses, &BTreeMap::from([(asset(1), 500)])),
            Err(RemapError::NoSufficientBar {
                total: 500,
                heaviest: 400
            })
        );
        assert_eq!(
            consolidate(&before, &BTreeMap::new(), &BTreeMap::from([(asset(1), 1)])),
            Err(RemapError::UnknownBar("A".into()))
        );
    }

    /// Up to 6 bars with masses, allocations of 3 assets that fit them, and a redemption.
    fn scenario()
    -> impl Strategy<Value = (BTreeMap<String, u128>, Allocations, BTreeMap<AssetId, u128>)> {
        prop::collection::vec((1u128..2_000, prop::collection::vec(0u128..700, 3)), 1..6)
            .prop_flat_map(|bars| {
                let mut masses = BTreeMap::new();
                let mut allocations = Allocations::new();
                for (i, (mass, shares)) in bars.iter().enumerate() {
                    let serial = format!("S{i}");
                    masses.insert(serial.clone(), *mass);
                    let mut left = *mass;
                    for (a, share) in shares.iter().enumerate() {
                        let x = (*share).min(left);
                        left -= x;
                        if x > 0 {
                            allocations.insert((serial.clone(), asset(a as u8)), x);
                        }
                    }
                }
                let mapped: Vec<u128> = (0..3u8)
                    .map(|a| {
                        allocations
                            .iter()
                            .filter(|((_, x), _)| *x == asset(a))
                            .map(|(_, v)| *v)
                            .sum()
                    })
                    .collect();
                let redeem = (0..=mapped[0], 0..=mapped[1], 0..=mapped[2]);
                (Just(masses), Just(allocations), redeem)
            })
            .prop_map(|(masses, allocations, (x0, x1, x2))| {
                let redeemed: BTreeMap<AssetId, u128> =
                    [(asset(0), x0), (asset(1), x1), (asset(2), x2)]
                        .into_iter()
                        .filter(|(_, x)| *x > 0)
                        .collect();
                (masses, allocations, redeemed)
            })
    }

    fn totals(allocations: &Allocations) -> BTreeMap<AssetId, u128> {
        let mut totals = BTreeMap::new();
        for ((_, asset), x) in allocations {
            *totals.entry(*asset).or_insert(0) += x;
        }
        totals
    }

    fn per_bar(allocations: &Allocations) -> BTreeMap<String, u128> {
        let mut sums = BTreeMap::new();
        for ((serial, _), x) in allocations {
            *sums.entry(serial.clone()).or_insert(0) += x;
        }
        sums
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn remapping_conserves_mass_and_supply((masses, before, redeemed) in scenario()) {
            let total: u128 = redeemed.values().sum();
            let Ok(out) = consolidate(&before, &masses, &redeemed) else {
                // Only refused when nothing is redeemed or no bar is heavy enough.
                let heaviest = masses
                    .iter()
                    .filter(|(s, _)| before.keys().any(|(b, _)| b == *s))
                    .map(|(_, m)| *m)
                    .max()
                    .unwrap_or(0);
                prop_assert!(total == 0 || heaviest < total);
                return Ok(());
            };
            // Supply: redeemed assets lose exactly what was redeemed, the others nothing.
            let (old, new) = (totals(&before), totals(&out.allocations));
            for (asset, was) in &old {
                let burned = redeemed.get(asset).copied().unwrap_or(0);
                prop_assert_eq!(new.get(asset).copied().unwrap_or(0), was - burned);
            }
            // Mass: allocated mass drops by exactly the burn, and no bar holds more than its mass.
            let allocated = |a: &Allocations| a.values().sum::<u128>();
            prop_assert_eq!(allocated(&out.allocations), allocated(&before) - total);
            for (serial, sum) in per_bar(&out.allocations) {
                prop_assert!(sum <= masses[&serial], "{} over its mass", serial);
            }
            // No negative or empty entry, and only bars already mapped are used.
            for ((serial, _), x) in &out.allocations {
                prop_assert!(*x > 0);
                prop_assert!(per_bar(&before).contains_key(serial));
            }
            // The chosen bar is the smallest sufficient one and frees min(total, allocated).
            let chosen = masses[&out.bar];
            prop_assert!(chosen >= total);
            for serial in per_bar(&before).keys() {
                let m = masses[serial];
                prop_assert!(m < total || (m, serial) >= (chosen, &out.bar));
            }
            let on = |a: &Allocations| per_bar(a).get(&out.bar).copied().unwrap_or(0);
            prop_assert_eq!(on(&before) - on(&out.allocations), total.min(on(&before)));
            prop_assert_eq!(out.released, on(&out.allocations) == 0);
        }
    }
}
