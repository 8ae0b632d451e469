//! Human arguments to ledger values: names for roles, KYC states, limit periods and operation
//! kinds (`asset-holder` or `asset_holder`), accounts by id or by a keystore name, and decimal
//! amounts in an asset's precision.

use lightclient::keys::AccountId;
use serde::de::DeserializeOwned;

/// Why an argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// Not one of the names.
    #[error("{what} {given:?} is not one of: {choices}")]
    UnknownName {
        /// What was expected.
        what: &'static str,
        /// What was given.
        given: String,
        /// The names it could be.
        choices: &'static str,
    },
    /// Neither an account id nor a key in the keystore.
    #[error("{0:?} is neither an account id (40 hex digits) nor a key in the keystore")]
    UnknownAccount(String),
}

/// The role names.
pub const ROLES: &str = "super-admin, kyc-admin, fees-admin, limits-admin, trade-admin, security-admin, issuance-admin, vault-staff, controller, asset-holder, settlement-institution";
/// The KYC state names.
pub const KYC_STATES: &str = "unverified, verified, corporate, banned";
/// The limit period names.
pub const PERIODS: &str = "daily, weekly, monthly, annual";
/// The operation kinds fees and limits are scoped to.
pub const OPERATION_KINDS: &str = "issue, transfer, redemption, deposit, withdraw";

/// Parses `given` as one of a protocol enum's names (`choices` lists them for the error).
pub fn name<T: DeserializeOwned>(
    what: &'static str,
    choices: &'static str,
    given: &str,
) -> Result<T, ArgError> {
    serde_json::from_value(serde_json::Value::String(given.replace('-', "_"))).map_err(|_| {
        ArgError::UnknownName {
            what,
            given: given.to_string(),
            choices,
        }
    })
}

/// An account: its id in hex, or the name of a key whose account it is (`lookup`).
pub fn account(
    given: &str,
    lookup: impl Fn(&str) -> Option<AccountId>,
) -> Result<AccountId, ArgError> {
    if let Ok(id) = given.parse::<AccountId>() {
        return Ok(id);
    }
    lookup(given).ok_or_else(|| ArgError::UnknownAccount(given.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use lightclient::tx::{KycState, LimitPeriod, Role};

    use super::*;

    #[test]
    fn names_accept_hyphens_and_underscores_and_refuse_the_rest_naming_the_choices() {
        assert_eq!(
            name::<Role>("role", ROLES, "asset-holder"),
            Ok(Role::AssetHolder)
        );
        assert_eq!(
            name::<Role>("role", ROLES, "settlement_institution"),
            Ok(Role::SettlementInstitution)
        );
        assert_eq!(
            name::<KycState>("KYC state", KYC_STATES, "verified"),
            Ok(KycState::Verified)
        );
        assert_eq!(
            name::<LimitPeriod>("period", PERIODS, "weekly"),
            Ok(LimitPeriod::Weekly)
        );
        assert_eq!(
            name::<Role>("role", ROLES, "admin"),
            Err(ArgError::UnknownName {
                what: "role",
                given: "admin".into(),
                choices: ROLES
            })
        );
    }

    #[test]
    fn an_account_is_an_id_or_a_key_name() {
        let id = AccountId([7; 20]);
        let lookup = |name: &str| (name == "alice").then_some(id);
        assert_eq!(account(&"07".repeat(20), lookup), Ok(id));
        assert_eq!(account("alice", lookup), Ok(id));
        assert_eq!(
            account("bob", lookup),
            Err(ArgError::UnknownAccount("bob".into()))
        );
    }
}
