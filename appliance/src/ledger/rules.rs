//! Fees and limits: which rules apply to an operation, and calendar periods for limits.

use std::collections::BTreeMap;

use lightclient::keys::{AccountId, AssetId};
use lightclient::tx::{FeeRule, LimitPeriod, LimitRule, OperationKind, Scope};

use super::error::LedgerError;
use super::state::Account;

/// What an operation is, for matching fee and limit scopes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) operation: OperationKind,
    pub(crate) asset: &'a AssetId,
    pub(crate) account: &'a Account,
}

fn matches(scope: &Scope, subject: &Subject<'_>) -> bool {
    scope.operation.is_none_or(|o| o == subject.operation)
        && scope.asset.is_none_or(|a| a == *subject.asset)
        && scope.account.is_none_or(|a| a == subject.account.id)
        && scope.role.is_none_or(|r| subject.account.has(r))
        && scope.kyc_state.is_none_or(|k| k == subject.account.kyc)
}

/// More specific scopes win: an account beats a role beats a KYC state beats an asset beats an
/// operation.
#[allow(clippy::arithmetic_side_effects)] // at most 31
fn specificity(scope: &Scope) -> u8 {
    u8::from(scope.account.is_some()) * 16
        + u8::from(scope.role.is_some()) * 8
        + u8::from(scope.kyc_state.is_some()) * 4
        + u8::from(scope.asset.is_some()) * 2
        + u8::from(scope.operation.is_some())
}

/// The fee for `amount`, and who receives it: the most specific matching rule whose range holds
/// the amount (lowest id among equals); no rule, no fee.
pub(crate) fn fee_for(
    fees: &BTreeMap<u32, FeeRule>,
    subject: &Subject<'_>,
    amount: u128,
) -> Result<Option<(u128, AccountId)>, LedgerError> {
    let best = fees
        .iter()
        .filter(|(_, rule)| matches(&rule.scope, subject))
        .filter(|(_, rule)| (rule.min_amount..=rule.max_amount).contains(&amount))
        .max_by(|(id_a, a), (id_b, b)| {
            specificity(&a.scope)
                .cmp(&specificity(&b.scope))
                .then(id_b.cmp(id_a))
        });
    let Some((_, rule)) = best else {
        return Ok(None);
    };
    let percent = amount
        .checked_mul(u128::from(rule.percent_ppm))
        .map(|v| v / 1_000_000)
        .ok_or(LedgerError::Overflow)?;
    let fee = rule
        .flat
        .checked_add(percent)
        .ok_or(LedgerError::Overflow)?;
    Ok(Some((fee, rule.collector)))
}

/// Refuses a rule whose amount range overlaps another rule of the same scope.
pub(crate) fn check_fee_rule(
    fees: &BTreeMap<u32, FeeRule>,
    id: u32,
    rule: &FeeRule,
) -> Result<(), LedgerError> {
    if rule.min_amount > rule.max_amount {
        return Err(LedgerError::InvalidArgument(format!(
            "fee range {}..={} is empty",
            rule.min_amount, rule.max_amount
        )));
    }
    if rule.percent_ppm > 1_000_000 {
        return Err(LedgerError::InvalidArgument(
            "a fee cannot exceed 100 %".into(),
        ));
    }
    let clash = fees.iter().find(|(other_id, other)| {
        **other_id != id
            && other.scope == rule.scope
            && other.min_amount <= rule.max_amount
            && rule.min_amount <= other.max_amount
    });
    match clash {
        Some((other, _)) => Err(LedgerError::FeeRangeOverlap { other: *other }),
        None => Ok(()),
    }
}

/// The limit rules that apply, with the index of the current period of each.
pub(crate) fn applicable_limits<'a>(
    limits: &'a BTreeMap<u32, LimitRule>,
    subject: &'a Subject<'a>,
    time_ms: u64,
) -> impl Iterator<Item = (u32, &'a LimitRule, u64)> + 'a {
    limits
        .iter()
        .filter(move |(_, rule)| matches(&rule.scope, subject))
        .map(move |(id, rule)| (*id, rule, period_index(rule.period, time_ms)))
}

/// The calendar period (UTC) that `time_ms` falls in, as a number that grows with time.
#[allow(clippy::arithmetic_side_effects)] // days < 2^38: no step can overflow u64
pub(crate) fn period_index(period: LimitPeriod, time_ms: u64) -> u64 {
    let days = time_ms / 86_400_000;
    match period {
        LimitPeriod::Daily => days,
        // 1970-01-01 was a Thursday; ISO weeks start on Monday.
        LimitPeriod::Weekly => (days + 3) / 7,
        LimitPeriod::Monthly => {
            let (year, month, _) = civil_from_days(days);
            year * 12 + u64::from(month) - 1
        }
        _ => civil_from_days(days).0,
    }
}

/// Year, month (1-12) and day of the proleptic Gregorian date `days` after 1970-01-01
/// (H. Hinnant's algorithm, for non-negative day counts).
#[allow(clippy::arithmetic_side_effects)] // days < 2^38: no step can overflow u64
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_778), (2026, 11, 21));
    }

    #[test]
    fn periods_roll_over_at_calendar_boundaries() {
        let day = 86_400_000u64;
        let sunday_2026_11_22 = 20_779 * day;
        let monday_2026_11_23 = 20_780 * day;
        assert_eq!(
            period_index(LimitPeriod::Weekly, sunday_2026_11_22) + 1,
            period_index(LimitPeriod::Weekly, monday_2026_11_23)
        );
        let nov_30 = 20_787 * day;
        let dec_1 = 20_788 * day;
        assert_eq!(
            period_index(LimitPeriod::Monthly, nov_30) + 1,
            period_index(LimitPeriod::Monthly, dec_1)
        );
        assert_eq!(period_index(LimitPeriod::Annual, dec_1), 2026);
        assert_eq!(period_index(LimitPeriod::Daily, dec_1), 20_788);
    }
}
